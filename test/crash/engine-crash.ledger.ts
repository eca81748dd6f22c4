import {
  CRASH_TOPICS,
  type ChildLine,
  type GroupView,
  type OffsetView,
  type PositionedId,
} from './engine-crash.protocol';

interface Position {
  topic: string;
  queueId: number;
  queueOffset: number;
}

interface Obligation {
  /** Kill after which the message must be handed to the crash group again. */
  kill: number;
  /** True when its committed offset was not passed: the redelivery must come from the business topic itself. */
  fromBusinessTopic: boolean;
}

export interface CrashTotals {
  runs: number;
  kills: number;
  attempted: number;
  confirmed: number;
  /** Messages found in storage, including batches whose confirm the kill cut off. */
  stored: number;
  storedUnconfirmed: number;
  /** Distinct messages the crash group handled successfully. */
  delivered: number;
  deliveries: number;
  plannedFailures: number;
  /** Distinct messages handed out in a killed run and handed out again after a restart. */
  redeliveredAfterCrash: number;
  /** Of those, messages whose handler had already succeeded (their offset was not yet durable). */
  handledAgainAfterSuccess: number;
  /** Handlers running at the moment of a kill, summed over kills. */
  inFlightAtKill: number;
  /** Offsets the crash group had passed in memory (last stats line) but not on disk at a kill, summed. */
  offsetsLostAtKill: number;
  lost: number;
}

const BUSINESS_TOPICS = new Set(CRASH_TOPICS.map((topic) => topic.name));
const queueKey = (topic: string, queueId: number): string => `${topic}#${queueId}`;
const LIST_LIMIT = 8;

function sample(values: Iterable<string>): string {
  const all = [...values];
  return all.slice(0, LIST_LIMIT).join(', ') + (all.length > LIST_LIMIT ? ` … (${all.length} in all)` : '');
}

/**
 * Everything the crash children reported and the inspections found, and the invariants that tie them together:
 * confirmed means stored, committed means handled, not committed means delivered again, and offsets only move forward.
 */
export class CrashLedger {
  readonly violations: string[] = [];
  private readonly attempted = new Map<string, string>();
  private readonly batches = new Map<string, { ids: string[]; confirmed: boolean }>();
  private readonly confirmed = new Map<string, Position>();
  private readonly stored = new Map<string, Position>();
  /** Ids by queue and offset, as found in storage. */
  private readonly slots = new Map<string, string[]>();
  /** Messages whose handler finished (resolved or rejected) at the point the scan has reached. */
  private readonly handled = new Set<string>();
  private readonly succeeded = new Set<string>();
  /** Per queue, the lowest offset whose message has not been handled yet (only grows). */
  private readonly frontier = new Map<string, number>();
  private durable: OffsetView | null = null;
  private lastInMemory: OffsetView | null = null;
  private readonly owed = new Map<string, Obligation>();
  private readonly deliveredBeforeKill = new Set<string>();
  private readonly redelivered = new Set<string>();
  private readonly handledAgain = new Set<string>();
  private runs = 0;
  private kills = 0;
  private deliveries = 0;
  private failures = 0;
  private inFlightAtKill = 0;
  private offsetsLostAtKill = 0;

  private violate(message: string): void {
    this.violations.push(message);
  }

  /** Messages an inspection read from storage. Call before `applyRun` for the run that wrote them. */
  recordStored(found: readonly PositionedId[], context: string): void {
    for (const { id, topic, queueId, queueOffset } of found) {
      const known = this.stored.get(id);
      if (known && (known.topic !== topic || known.queueId !== queueId || known.queueOffset !== queueOffset)) {
        this.violate(
          `${context}: ${id} is stored at ${topic}#${queueId}@${queueOffset} and at ${known.topic}#${known.queueId}@${known.queueOffset}`,
        );
        continue;
      }
      this.stored.set(id, { topic, queueId, queueOffset });
      let slots = this.slots.get(queueKey(topic, queueId));
      if (!slots) this.slots.set(queueKey(topic, queueId), (slots = []));
      const other = slots[queueOffset];
      if (other !== undefined && other !== id) {
        this.violate(`${context}: ${topic}#${queueId}@${queueOffset} holds both ${other} and ${id}`);
      }
      slots[queueOffset] = id;
    }
  }

  /** Replays one child's output in order. */
  applyRun(run: number, lines: readonly ChildLine[], killed: boolean): void {
    this.runs++;
    const context = `run ${run}`;
    const inflight = new Map<string, number>();
    const deliveredHere = new Set<string>();
    const batchesHere: string[] = [];
    let lastStats: OffsetView | null = null;
    let opened = false;
    for (const line of lines) {
      switch (line.kind) {
        case 'open': {
          opened = true;
          const seen = line.view?.offsets ?? null;
          if (!this.sameOffsets(seen, this.durable)) {
            this.violate(
              `${context}: the engine opened with offsets ${JSON.stringify(seen)}, the last inspection found ${JSON.stringify(this.durable)}`,
            );
          }
          break;
        }
        case 'producing':
          break;
        case 'intent': {
          const key = `${run}:${line.batch}`;
          this.batches.set(key, { ids: line.ids, confirmed: false });
          batchesHere.push(key);
          for (const id of line.ids) {
            if (this.attempted.has(id)) this.violate(`${context}: id ${id} was published twice`);
            this.attempted.set(id, key);
          }
          break;
        }
        case 'confirmed': {
          const batch = this.batches.get(`${run}:${line.batch}`);
          if (!batch) this.violate(`${context}: batch ${line.batch} confirmed without an intent`);
          else batch.confirmed = true;
          for (const { id, topic, queueId, queueOffset } of line.results) {
            this.confirmed.set(id, { topic, queueId, queueOffset });
            const at = this.stored.get(id);
            if (!at)
              this.violate(
                `LOST: ${id} was confirmed in ${context} (${topic}#${queueId}@${queueOffset}) but was not read back from storage after the kill`,
              );
            else if (at.topic !== topic || at.queueId !== queueId || at.queueOffset !== queueOffset) {
              this.violate(
                `${context}: ${id} was confirmed at ${topic}#${queueId}@${queueOffset} but is stored at ${at.topic}#${at.queueId}@${at.queueOffset}`,
              );
            }
          }
          break;
        }
        case 'rejected':
          this.violate(`${context}: publish of batch ${line.batch} was rejected: ${line.error}`);
          break;
        case 'error':
          this.violate(`${context}: the engine reported an error: ${line.message}`);
          break;
        case 'delivered': {
          const { id, source } = line;
          this.deliveries++;
          if (!this.attempted.has(id)) this.violate(`${context}: delivered ${id}, which was never published`);
          inflight.set(id, (inflight.get(id) ?? 0) + 1);
          if (!deliveredHere.has(id) && this.deliveredBeforeKill.has(id)) this.redelivered.add(id);
          if (this.succeeded.has(id)) this.handledAgain.add(id);
          deliveredHere.add(id);
          if (BUSINESS_TOPICS.has(source)) {
            const at = this.stored.get(id);
            if (!at || at.topic !== source || at.queueId !== line.queueId || at.queueOffset !== line.queueOffset) {
              this.violate(
                `${context}: ${id} was delivered from ${source}#${line.queueId}@${line.queueOffset}, storage has it at ${JSON.stringify(at)}`,
              );
            }
          }
          const owed = this.owed.get(id);
          if (owed && (!owed.fromBusinessTopic || BUSINESS_TOPICS.has(source))) this.owed.delete(id);
          break;
        }
        case 'acked':
        case 'failed': {
          if (line.kind === 'acked') this.succeeded.add(line.id);
          else this.failures++;
          this.handled.add(line.id);
          const count = inflight.get(line.id) ?? 0;
          if (count <= 0) this.violate(`${context}: ${line.id} finished without a delivery`);
          if (count <= 1) inflight.delete(line.id);
          else inflight.set(line.id, count - 1);
          break;
        }
        case 'stats': {
          const offsets = this.businessOffsets(line.view.offsets);
          this.checkCommittedWereHandled(offsets, `${context} (in-memory stats)`);
          this.checkNotBehind(offsets, lastStats ?? this.durable, `${context} (in-memory stats)`);
          lastStats = offsets;
          if (line.view.dlq !== 0) this.violate(`${context}: ${line.view.dlq} messages reached the DLQ; none should`);
          break;
        }
        case 'drained': {
          const offsets = this.businessOffsets(line.view.offsets);
          if (!this.sameOffsets(offsets, line.heads)) {
            this.violate(
              `${context}: drained with offsets ${JSON.stringify(offsets)} below heads ${JSON.stringify(line.heads)}`,
            );
          }
          break;
        }
      }
    }
    if (!opened) this.violate(`${context}: the child never reported opening the engine`);
    for (const key of batchesHere) {
      const batch = this.batches.get(key)!;
      const storedCount = batch.ids.filter((id) => this.stored.has(id)).length;
      if (storedCount !== 0 && storedCount !== batch.ids.length) {
        this.violate(`${context}: batch ${key} is partly stored (${storedCount} of ${batch.ids.length})`);
      }
    }
    this.lastInMemory = lastStats;
    if (killed) {
      this.kills++;
      for (const id of inflight.keys()) {
        this.inFlightAtKill++;
        this.owe(id, { kill: this.kills, fromBusinessTopic: false });
      }
      for (const id of deliveredHere) this.deliveredBeforeKill.add(id);
    }
  }

  /** Crash-group offsets read from storage after a run ended; call after `applyRun` for that run. */
  recordDurable(view: GroupView | null, heads: OffsetView, context: string): void {
    const offsets = this.businessOffsets(view?.offsets ?? {});
    if (view && view.dlq !== 0) this.violate(`${context}: ${view.dlq} messages reached the DLQ; none should`);
    this.checkNotBehind(offsets, this.durable, `${context} (durable)`);
    this.checkCommittedWereHandled(offsets, `${context} (durable)`);
    for (const [topic, queues] of Object.entries(heads)) {
      for (const [queueText, head] of Object.entries(queues)) {
        const queueId = Number(queueText);
        const committed = offsets[topic]?.[queueId] ?? 0;
        if (committed > head)
          this.violate(`${context}: ${topic}#${queueId} committed ${committed} is past the head ${head}`);
        const inMemory = this.lastInMemory?.[topic]?.[queueId];
        if (inMemory !== undefined && inMemory > committed) this.offsetsLostAtKill += inMemory - committed;
        const slots = this.slots.get(queueKey(topic, queueId)) ?? [];
        for (let offset = committed; offset < head; offset++) {
          const id = slots[offset];
          if (id === undefined) {
            this.violate(`${context}: no message found at ${topic}#${queueId}@${offset}, below the head ${head}`);
            continue;
          }
          this.owe(id, { kill: this.kills, fromBusinessTopic: true });
        }
      }
    }
    this.durable = offsets;
    this.lastInMemory = null;
  }

  /** After the drain run: a fresh group's full read must match everything recorded, and nothing may be owed. */
  finish(fullRead: readonly PositionedId[], durable: GroupView | null, heads: OffsetView): CrashTotals {
    const read = new Map(fullRead.map((entry) => [entry.id, entry]));
    if (read.size !== fullRead.length)
      this.violate(`final read: ${fullRead.length - read.size} duplicate deliveries to a fresh group`);
    const missingFromRead = [...this.stored.keys()].filter((id) => !read.has(id));
    if (missingFromRead.length > 0)
      this.violate(`final read: previously stored messages are gone: ${sample(missingFromRead)}`);
    const unknown = [...read.keys()].filter((id) => !this.stored.has(id));
    if (unknown.length > 0) this.violate(`final read: messages no inspection had seen: ${sample(unknown)}`);
    const unattempted = [...read.keys()].filter((id) => !this.attempted.has(id));
    if (unattempted.length > 0)
      this.violate(`final read: stored messages that were never published: ${sample(unattempted)}`);
    const lost = [...this.confirmed.keys()].filter((id) => !read.has(id) || !this.succeeded.has(id));
    if (lost.length > 0)
      this.violate(`LOST: confirmed messages not stored or never handled successfully: ${sample(lost)}`);
    const unhandled = [...read.keys()].filter((id) => !this.succeeded.has(id));
    if (unhandled.length > 0)
      this.violate(`stored messages the crash group never handled successfully: ${sample(unhandled)}`);
    if (this.owed.size > 0) {
      this.violate(
        `not delivered again after a kill: ${sample([...this.owed].map(([id, owed]) => `${id} (kill ${owed.kill}${owed.fromBusinessTopic ? ', uncommitted offset' : ', in flight'})`))}`,
      );
    }
    const offsets = this.businessOffsets(durable?.offsets ?? {});
    if (!this.sameOffsets(offsets, heads)) {
      this.violate(
        `after the drain the crash group's committed offsets ${JSON.stringify(offsets)} differ from the heads ${JSON.stringify(heads)}`,
      );
    }
    if (durable && (durable.retryPending !== 0 || durable.dlq !== 0)) {
      this.violate(`after the drain: ${durable.retryPending} retries pending, ${durable.dlq} dead letters`);
    }
    const confirmedIds = new Set(this.confirmed.keys());
    return {
      runs: this.runs,
      kills: this.kills,
      attempted: this.attempted.size,
      confirmed: confirmedIds.size,
      stored: read.size,
      storedUnconfirmed: [...read.keys()].filter((id) => !confirmedIds.has(id)).length,
      delivered: this.succeeded.size,
      deliveries: this.deliveries,
      plannedFailures: this.failures,
      redeliveredAfterCrash: this.redelivered.size,
      handledAgainAfterSuccess: [...this.handledAgain].filter((id) => this.redelivered.has(id)).length,
      inFlightAtKill: this.inFlightAtKill,
      offsetsLostAtKill: this.offsetsLostAtKill,
      lost: lost.length,
    };
  }

  private owe(id: string, obligation: Obligation): void {
    const current = this.owed.get(id);
    if (!current) this.owed.set(id, obligation);
    else current.fromBusinessTopic ||= obligation.fromBusinessTopic;
  }

  /** A committed offset may only pass messages whose handler has finished: anything else would be lost. */
  private checkCommittedWereHandled(offsets: OffsetView, context: string): void {
    for (const [topic, queues] of Object.entries(offsets)) {
      for (const [queueText, committed] of Object.entries(queues)) {
        const key = queueKey(topic, Number(queueText));
        const slots = this.slots.get(key) ?? [];
        let frontier = this.frontier.get(key) ?? 0;
        while (frontier < committed && slots[frontier] !== undefined && this.handled.has(slots[frontier]!)) frontier++;
        this.frontier.set(key, frontier);
        if (committed > frontier) {
          const id = slots[frontier];
          this.violate(
            `${context}: ${key} committed offset ${committed} passes offset ${frontier} (${id ?? 'no stored message'}), whose handler never finished`,
          );
        }
      }
    }
  }

  private checkNotBehind(offsets: OffsetView, earlier: OffsetView | null, context: string): void {
    if (!earlier) return;
    for (const [topic, queues] of Object.entries(earlier)) {
      for (const [queueText, before] of Object.entries(queues)) {
        const now = offsets[topic]?.[Number(queueText)];
        if (now === undefined || now < before) {
          this.violate(`${context}: ${topic}#${queueText} committed offset went back from ${before} to ${now}`);
        }
      }
    }
  }

  private businessOffsets(offsets: OffsetView): OffsetView {
    return Object.fromEntries(Object.entries(offsets).filter(([topic]) => BUSINESS_TOPICS.has(topic)));
  }

  private sameOffsets(a: OffsetView | null, b: OffsetView | null): boolean {
    const normal = (view: OffsetView | null): string =>
      JSON.stringify(
        Object.entries(view ?? {})
          .filter(([topic]) => BUSINESS_TOPICS.has(topic))
          .sort(([x], [y]) => x.localeCompare(y))
          .map(([topic, queues]) => [topic, Object.entries(queues).sort(([x], [y]) => Number(x) - Number(y))]),
      );
    return normal(a) === normal(b);
  }
}
