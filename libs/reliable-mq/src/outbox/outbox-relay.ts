import { EscapingLogger } from '../logging/escaping-logger';
import { messagesLogFields } from '../logging/message-log-fields';
import { schedule, type ScheduledTask } from 'node-cron';
import type { DataSource } from 'typeorm';
import { MessagingTelemetry } from '../observability/messaging-telemetry';
import type { RelayOptions } from '../reliable-mq-options.interface';
import type { Transport, TransportMessage } from '../transport/transport.interface';
import { BrokerAvailability } from './broker-availability';
import { answeredBy } from './publish-deadline';
import { createOutboxStore } from './create-outbox-store';
import { errorText } from './error-text';
import { resolveRelayOptions, type ResolvedRelayOptions } from './outbox-relay-options';
import type { OutboxRelayStatus } from './outbox-relay-status';
import { outboxRowToTransportMessage } from './outbox-row.codec';
import type { ClaimedRow, OutboxStore } from './outbox-store.interface';
import { retryBackoffMs } from './retry-backoff';

/** What the relay logs through; Nest's Logger fits. */
export interface OutboxRelayLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface OutboxRelayInit {
  /** The DataSource holding `rmq_outbox`; initialised before `start()` or `wake()`. */
  dataSource: DataSource;
  transport: Transport;
  options?: RelayOptions;
  logger?: OutboxRelayLogger;
  /** Overrides the store chosen from the DataSource's type. */
  store?: OutboxStore;
  /** Source of epoch ms for leases, backoff and cleanup. */
  clock?: () => number;
}

export interface OutboxRelayMetrics {
  /** Rows this relay leased. */
  claimed: number;
  /** Rows this relay marked sent after the broker confirmed them. */
  sent: number;
  /** Failed attempts recorded (rows that will be retried or became dead). */
  failed: number;
  /** Rows this relay moved to `dead` after maxAttempts. */
  dead: number;
  /** Rows given back without counting an attempt because the broker could not be reached. */
  heldForBroker: number;
  /** Rows confirmed by the broker whose lease another relay had taken meanwhile, so this relay did not mark them. */
  fenced: number;
  /** Claim rounds run, including empty ones. */
  rounds: number;
}

/**
 * `unavailable`: the broker could not be reached; the rows were given back without an attempt. `error`: the outcome
 * could not be recorded (the database failed); the rows' leases run out on their own.
 */
type SendOutcome = 'sent' | 'failed' | 'unavailable' | 'error';

interface Outgoing {
  row: ClaimedRow;
  message: TransportMessage;
}

interface WaveResult {
  sent: ClaimedRow[];
  /** Rows not confirmed, grouped by the error that stopped them. */
  failures: Array<{ rows: ClaimedRow[]; error: unknown }>;
  /** Rows not tried at all. */
  untried: ClaimedRow[];
  /** Rows whose send failed because the broker could not be reached, with the first such error. */
  unavailable?: { rows: ClaimedRow[]; error: unknown };
}

/** Rows leased by one claim, and the time after which none of them may start on its way to the broker. */
interface Claim {
  rows: ClaimedRow[];
  sendBy: number;
  /** When the rows' lease ends; a publish not answered a lease (at least 5 s) later is given up (see `answeredBy`). */
  leaseUntil: number;
}

/** Splits claimed rows (in seq order) into waves: the n-th row of each key goes to wave n; keyless rows to wave 0. */
function toWaves(entries: readonly Outgoing[]): Outgoing[][] {
  const waves: Outgoing[][] = [];
  const rowsSeen = new Map<string, number>();
  for (const entry of entries) {
    let index = 0;
    if (entry.row.key !== null) {
      index = rowsSeen.get(entry.row.key) ?? 0;
      rowsSeen.set(entry.row.key, index + 1);
    }
    (waves[index] ??= []).push(entry);
  }
  return waves;
}

/** Rows after which single sends of a failed batch stop: two failures in a row look like the broker, not a row. */
const ISOLATION_FAILURE_LIMIT = 2;
const CLEANUP_CHUNK = 1000;
/** The least a publish is waited for past the rows' lease (see `answeredBy`), however short the lease. */
const MIN_LATE_ANSWER_MS = 5_000;

/**
 * Moves outbox rows to the broker.
 *
 * - `wake()` drains at once (the publisher calls it after a commit), so latency is a round trip, not a polling
 *   interval. Wakes coalesce: one drain loop runs at a time and repeats while rows keep coming.
 * - The sweep cron finds what no wake announced: rows written by other processes, left after a crash, or due after
 *   a backoff.
 * - A row is leased to this relay while it is being sent, and marked sent only while the lease is still its own,
 *   after the broker confirmed it. A relay that loses its lease may send a row again; the broker recognises the
 *   id, so the consumer sees it once.
 * - Per-key order: a row is claimed only together with every earlier unsent row of its key, and is sent only after
 *   the previous row of its key was confirmed (see `round`). A hot key thus moves a batch of rows per claim, not one.
 * - An outage is not the rows' fault (see `BrokerAvailability`): while the transport is not connected nothing is
 *   claimed, and a send that fails because the broker could not be reached gives its rows back without counting an
 *   attempt or growing their backoff. The transport's connection news wakes the relay as soon as it can publish
 *   again. A row whose send was cut off may have reached the broker; it is sent again, and the broker's ids (or the
 *   consumers' dedup on RabbitMQ) absorb the copy.
 */
export class OutboxRelay {
  readonly options: ResolvedRelayOptions;
  private readonly dataSource: DataSource;
  private readonly transport: Transport;
  private readonly logger: OutboxRelayLogger;
  private readonly clock: () => number;
  private storeInstance: OutboxStore | undefined;

  private tasks: ScheduledTask[] = [];
  private stopping = false;
  private drainRequested = false;
  private drainScheduled = false;
  private draining: Promise<void> | undefined;
  private cleaning: Promise<number> | undefined;
  /** Earliest next_attempt_at this relay gave a failed row in the current round. */
  private earliestRetryAt = Number.POSITIVE_INFINITY;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryTimerAt = Number.POSITIVE_INFINITY;
  private readonly broker: BrokerAvailability;
  private readonly telemetry: MessagingTelemetry;
  private readonly counters: OutboxRelayMetrics = {
    claimed: 0,
    sent: 0,
    failed: 0,
    dead: 0,
    heldForBroker: 0,
    fenced: 0,
    rounds: 0,
  };

  constructor(init: OutboxRelayInit) {
    this.options = resolveRelayOptions(init.options);
    this.dataSource = init.dataSource;
    this.transport = init.transport;
    this.logger = init.logger ?? new EscapingLogger('OutboxRelay');
    this.clock = init.clock ?? Date.now;
    this.storeInstance = init.store;
    this.telemetry = new MessagingTelemetry({ transportKind: this.transport.kind });
    this.broker = new BrokerAvailability({
      transport: this.transport,
      logger: this.logger,
      onBack: () => {
        if (!this.stopping) this.wake();
      },
      countWaiting: () => this.store().countPending(),
      clock: this.clock,
    });
  }

  get instanceId(): string {
    return this.options.instanceId;
  }

  /** True from `start()` to `stop()`: the sweep runs and wakes are served. */
  get running(): boolean {
    return this.tasks.length > 0 && !this.stopping;
  }

  /** Starts the sweep and cleanup jobs, listens for the transport's connection news, and drains what is due. */
  start(): void {
    if (this.tasks.length > 0) return;
    this.stopping = false;
    this.broker.start();
    this.tasks = [
      schedule(this.options.sweepCron, () => this.wake(), {
        name: `rmq-outbox-sweep:${this.instanceId}`,
        noOverlap: true,
      }),
      schedule(this.options.cleanupCron, () => this.runCleanup(), {
        name: `rmq-outbox-cleanup:${this.instanceId}`,
        noOverlap: true,
      }),
    ];
    this.wake();
  }

  /** Asks for a drain as soon as the event loop is free. Cheap and safe to call often. */
  wake(): void {
    if (this.stopping) return;
    this.drainRequested = true;
    if (this.draining || this.drainScheduled) return;
    this.drainScheduled = true;
    // Deferred so that the wakes of one burst of commits collapse into one round.
    setImmediate(() => {
      this.drainScheduled = false;
      this.startDrain();
    });
  }

  /** Drains until nothing is due or a round fails, and resolves when done. */
  async flush(): Promise<void> {
    if (this.stopping) return;
    this.drainRequested = true;
    this.startDrain();
    await this.draining;
  }

  /** Stops the jobs, waits for the round in flight, and hands back any lease this relay still holds. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.broker.stop();
    this.clearRetryTimer();
    const tasks = this.tasks;
    this.tasks = [];
    // destroy() also removes the task from node-cron's process-wide registry.
    await Promise.all(tasks.map(async (task) => task.destroy()));
    await this.draining;
    await this.cleaning?.catch(() => undefined);
    if (!this.storeInstance && !this.dataSource.isInitialized) return;
    try {
      const released = await this.store().releaseLeases(this.instanceId);
      if (released > 0) this.logger.log(`Released ${released} outbox lease(s) of ${this.instanceId}.`);
    } catch (error) {
      this.logger.warn(
        `Could not release outbox leases of ${this.instanceId}; they expire on their own: ${errorText(error)}`,
      );
    }
  }

  metrics(): OutboxRelayMetrics {
    return { ...this.counters };
  }

  /** Rows waiting to be sent (including those backing off), across all relays. */
  pendingCount(): Promise<number> {
    return this.store().countPending();
  }

  /**
   * Whether the broker can be reached, since when it cannot, and what waits in the outbox meanwhile (see
   * OutboxRelayStatus). Reads the outbox: one indexed statement, and a count of the pending rows during an outage.
   */
  async status(): Promise<OutboxRelayStatus> {
    const since = this.broker.disconnectedSince;
    const connected = this.transport.isConnected !== false && since === undefined;
    const [held, oldest] = await Promise.all([
      connected ? 0 : this.store().countPending(),
      this.store().oldestPendingCreatedAt(),
    ]);
    return {
      transportConnected: connected,
      disconnectedSince: since ?? null,
      rowsHeldForBroker: held,
      oldestPendingAgeMs: oldest === null ? null : Math.max(0, this.clock() - oldest),
    };
  }

  /** Deletes sent rows older than the retention, in chunks; resolves the number deleted. */
  cleanup(): Promise<number> {
    if (this.cleaning) return this.cleaning;
    const run = async (): Promise<number> => {
      const cutoff = this.clock() - this.options.retentionMs;
      let total = 0;
      for (;;) {
        const deleted = await this.store().deleteSentBefore(cutoff, CLEANUP_CHUNK);
        total += deleted;
        if (deleted < CLEANUP_CHUNK || this.stopping) return total;
      }
    };
    this.cleaning = run().finally(() => {
      this.cleaning = undefined;
    });
    return this.cleaning;
  }

  private runCleanup(): void {
    this.cleanup().then(
      (deleted) => {
        if (deleted > 0) this.logger.log(`Deleted ${deleted} sent outbox row(s) older than the retention.`);
      },
      (error: unknown) => this.logger.warn(`Outbox cleanup failed; the next run tries again: ${errorText(error)}`),
    );
  }

  private store(): OutboxStore {
    this.storeInstance ??= createOutboxStore(this.dataSource);
    return this.storeInstance;
  }

  private startDrain(): void {
    if (this.draining || this.stopping) return;
    // Whatever commit woke the relay, its rounds are not part of that request's trace.
    this.draining = this.telemetry
      .detached(() => this.drainLoop())
      .finally(() => {
        this.draining = undefined;
        // A wake that arrived after the loop's last check would otherwise wait for the sweep.
        if (this.drainRequested && !this.stopping) this.wake();
      });
  }

  /**
   * Claims and sends until a claim finds nothing or a send fails. One claim's rows are sent (and recorded) while the
   * next claim runs, when more is surely due: a full batch means a backlog, and a wake means a new commit. The next
   * claim cannot take a later row of a key whose row is still on its way (that row is leased and unsent), so per-key
   * order holds; at most one batch is being sent at a time.
   */
  private async drainLoop(): Promise<void> {
    let sending: Promise<SendOutcome> | undefined;
    try {
      for (;;) {
        let claimed: Claim = { rows: [], sendBy: 0, leaseUntil: 0 };
        let claimFailed = false;
        if (this.drainRequested && !this.stopping && !this.broker.isUnreachable()) {
          this.drainRequested = false;
          try {
            claimed = await this.claim();
          } catch (error) {
            // The database is unreachable or busy: wait for the next wake or sweep rather than spin.
            this.logger.warn(`Outbox relay round failed; retrying on the next sweep: ${errorText(error)}`);
            claimFailed = true;
          }
        }
        if (sending) {
          const outcome = await sending;
          sending = undefined;
          if (!(await this.afterSend(outcome, claimed.rows))) return;
        }
        if (claimFailed) return;
        if (this.stopping) {
          if (claimed.rows.length > 0) await this.releaseUntried(claimed.rows);
          return;
        }
        if (claimed.rows.length === 0) {
          // Only a claim that finds nothing, with no confirm since that could have let more through, ends the drain.
          // While the broker is unreachable nothing is claimed; its return wakes the relay.
          if (this.drainRequested && !this.broker.isUnreachable()) continue;
          this.drainRequested = false;
          return;
        }
        sending = this.send(claimed).catch((error: unknown) => {
          this.logger.warn(`Outbox relay round failed; retrying on the next sweep: ${errorText(error)}`);
          return 'error' as const;
        });
        if (claimed.rows.length < this.options.batchSize && !this.drainRequested) {
          const outcome = await sending;
          sending = undefined;
          if (!(await this.afterSend(outcome, []))) return;
        } else {
          this.drainRequested = true;
        }
      }
    } finally {
      await sending;
    }
  }

  /**
   * What a finished send means for the loop: go on after a successful one (each confirmed row may have released the
   * next row of its key). After a failed send the loop stops until the failed rows' backoff ends (or the next wake or
   * sweep), so an outage costs one attempt per backoff step, not a tight loop of failing sends, while a brief hiccup
   * delays rows by their backoff only; rows claimed meanwhile are given back untried.
   */
  private async afterSend(outcome: SendOutcome, claimedMeanwhile: readonly ClaimedRow[]): Promise<boolean> {
    if (outcome === 'sent') {
      this.broker.reached();
      this.drainRequested = true;
      return true;
    }
    if (claimedMeanwhile.length > 0) await this.releaseUntried(claimedMeanwhile);
    if (outcome === 'failed') this.scheduleRetryWake();
    if (outcome === 'unavailable') {
      // The transport's connection news wakes the relay; one that gives none is tried again after a pause.
      const pause = this.broker.retryPause();
      if (pause !== undefined) {
        this.earliestRetryAt = Math.min(this.earliestRetryAt, this.clock() + pause);
        this.scheduleRetryWake();
      }
    }
    return false;
  }

  private scheduleRetryWake(): void {
    const at = this.earliestRetryAt;
    this.earliestRetryAt = Number.POSITIVE_INFINITY;
    if (!Number.isFinite(at) || this.stopping || at >= this.retryTimerAt) return;
    this.clearRetryTimer();
    this.retryTimerAt = at;
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = undefined;
        this.retryTimerAt = Number.POSITIVE_INFINITY;
        this.wake();
      },
      Math.max(0, at - this.clock()),
    );
    // The sweep keeps the relay going; this timer alone must not keep a process alive.
    this.retryTimer.unref();
  }

  private clearRetryTimer(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.retryTimerAt = Number.POSITIVE_INFINITY;
  }

  private async claim(): Promise<Claim> {
    const now = this.clock();
    const leaseUntil = now + this.options.leaseMs;
    const rows = await this.store().claim({
      owner: this.instanceId,
      now,
      leaseUntil,
      limit: this.options.batchSize,
      maxBytes: this.options.batchBytes,
    });
    this.counters.rounds += 1;
    this.counters.claimed += rows.length;
    // A publish starts only while at least half of the lease is left, so that a send begun in time ends, as a rule,
    // before another relay may take the rows over. Rows whose turn comes later (behind a slow batch, or in a late
    // wave) are given back and claimed afresh.
    return { rows, sendBy: leaseUntil - this.options.leaseMs / 2, leaseUntil };
  }

  /** Sends the claimed rows and records the outcome of each. */
  private async send({ rows, sendBy, leaseUntil }: Claim): Promise<SendOutcome> {
    const sendable: Outgoing[] = [];
    const unreadable: ClaimedRow[] = [];
    const untried: ClaimedRow[] = [];
    // Keys with an unreadable row in this claim: their later rows must wait behind it.
    const broken = new Set<string>();
    for (const row of rows) {
      if (row.key !== null && broken.has(row.key)) {
        untried.push(row);
        continue;
      }
      try {
        sendable.push({ row, message: outboxRowToTransportMessage(row) });
      } catch {
        unreadable.push(row);
        if (row.key !== null) broken.add(row.key);
      }
    }

    // A claim may hold several rows of one key, oldest first. They go out in waves: wave n carries the n-th row of
    // each key, and starts only once wave n − 1 is confirmed, so a row never reaches the broker before the previous
    // row of its key was confirmed, and each publish holds at most one row per key. Rows without a key all ride in
    // the first wave. After a wave with a failure no further wave is sent: the rows left are given back untried.
    const confirmed: ClaimedRow[] = [];
    const failures: Array<{ rows: ClaimedRow[]; error: unknown }> = [];
    const unavailable: ClaimedRow[] = [];
    let unavailableError: unknown;
    let failed = unreadable.length > 0;
    let halted = false;
    for (const wave of toWaves(sendable)) {
      const ready: Outgoing[] = [];
      for (const entry of wave) {
        if (halted || this.stopping || this.clock() > sendBy) untried.push(entry.row);
        else ready.push(entry);
      }
      if (ready.length === 0) continue;
      const result = await this.sendWave(ready, sendBy, leaseUntil);
      confirmed.push(...result.sent);
      failures.push(...result.failures);
      untried.push(...result.untried);
      if (result.unavailable) {
        unavailable.push(...result.unavailable.rows);
        unavailableError ??= result.unavailable.error;
      }
      if (result.failures.length > 0 || result.unavailable) {
        failed = true;
        halted = true;
      }
    }

    if (confirmed.length > 0) await this.recordSent(confirmed);
    if (unavailable.length > 0) await this.holdForBroker(unavailable, unavailableError);
    if (unreadable.length > 0) {
      // Only a hand-edited row can get here; it must not hold back the healthy rows claimed with it.
      await this.recordFailure(unreadable, new Error("The row's headers or tags column is not valid JSON."));
    }
    for (const failure of failures) await this.recordFailure(failure.rows, failure.error);
    if (untried.length > 0) await this.releaseUntried(untried);
    if (unavailable.length > 0) return 'unavailable';
    return failed ? 'failed' : 'sent';
  }

  /**
   * Publishes one wave (at most one row per key). When the broker refuses the wave as a whole, its rows are tried one
   * by one before anything is recorded: otherwise one row the broker always refuses would fail, and eventually kill,
   * every healthy row claimed with it. Re-sending rows the broker may already hold is safe, as it recognises their
   * ids. After two failures in a row the rest of the wave is not tried: that looks like the broker, not a row. Nor is
   * it when the lease runs short (`sendBy`), or the relay stops; those rows are given back untried.
   */
  private async sendWave(wave: readonly Outgoing[], sendBy: number, leaseUntil: number): Promise<WaveResult> {
    const publish = (messages: TransportMessage[]): Promise<unknown> =>
      answeredBy(
        this.telemetry.publish(this.transport, messages, true),
        leaseUntil + Math.max(this.options.leaseMs, MIN_LATE_ANSWER_MS),
        this.clock,
        messages.length,
      );
    try {
      await publish(wave.map((entry) => entry.message));
      return { sent: wave.map((entry) => entry.row), failures: [], untried: [] };
    } catch (waveError) {
      const rows = wave.map((entry) => entry.row);
      // Unreachable is not refused: sending the rows one by one would only fail each of them the same way.
      if (this.broker.isUnavailability(waveError)) {
        return { sent: [], failures: [], untried: [], unavailable: { rows, error: waveError } };
      }
      if (wave.length === 1) return { sent: [], failures: [{ rows, error: waveError }], untried: [] };
      const sent: ClaimedRow[] = [];
      const failures: Array<{ rows: ClaimedRow[]; error: unknown }> = [];
      let failuresInARow = 0;
      let index = 0;
      for (; index < wave.length && failuresInARow < ISOLATION_FAILURE_LIMIT; index += 1) {
        if (this.stopping || this.clock() > sendBy) {
          return { sent, failures, untried: wave.slice(index).map((entry) => entry.row) };
        }
        const { row, message } = wave[index]!;
        try {
          await publish([message]);
          sent.push(row);
          failuresInARow = 0;
        } catch (error) {
          if (this.broker.isUnavailability(error)) {
            return { sent, failures, untried: [], unavailable: { rows: rows.slice(index), error } };
          }
          failures.push({ rows: [row], error });
          failuresInARow += 1;
        }
      }
      const rest = wave.slice(index).map((entry) => entry.row);
      if (rest.length > 0) failures.push({ rows: rest, error: waveError });
      return { sent, failures, untried: [] };
    }
  }

  /** Rows held back behind a failed row of their key, or by a stop: leased but never tried, so no attempt counts. */
  private async releaseUntried(rows: readonly ClaimedRow[]): Promise<void> {
    try {
      await this.store().release(
        this.instanceId,
        rows.map((row) => row.seq),
      );
    } catch (error) {
      this.logger.warn(
        `Could not give back ${rows.length} untried outbox lease(s); they expire on their own: ${errorText(error)}`,
      );
    }
  }

  /**
   * Rows whose send failed because the broker could not be reached: given back with their attempts and backoff as
   * they were, so that an outage, however long, kills no row. They are claimable at once, in their key's order.
   */
  private async holdForBroker(rows: readonly ClaimedRow[], error: unknown): Promise<void> {
    this.counters.heldForBroker += rows.length;
    this.telemetry.relayRows('held', rows.length);
    this.broker.heldBack(rows.length, error);
    await this.releaseUntried(rows);
  }

  private async recordSent(rows: readonly ClaimedRow[]): Promise<void> {
    const marked = await this.store().markSent(
      this.instanceId,
      rows.map((row) => row.seq),
      this.clock(),
    );
    this.counters.sent += marked;
    this.telemetry.relayRows('sent', marked);
    this.telemetry.commitToSend(rows, this.clock());
    if (marked < rows.length) {
      this.counters.fenced += rows.length - marked;
      this.telemetry.relayRows('fenced', rows.length - marked);
      this.logger.warn(
        `${rows.length - marked} confirmed outbox row(s) were not marked sent: their lease had passed to another relay, ` +
          'which will send them again (the broker drops the duplicates).',
      );
    }
  }

  private async recordFailure(rows: readonly ClaimedRow[], error: unknown): Promise<void> {
    const text = errorText(error);
    const now = this.clock();
    // Rows with the same failure count share one statement and one backoff.
    const byAttempts = new Map<number, ClaimedRow[]>();
    for (const row of rows) {
      const group = byAttempts.get(row.attempts) ?? [];
      group.push(row);
      byAttempts.set(row.attempts, group);
    }
    for (const [previousAttempts, group] of byAttempts) {
      const attempt = previousAttempts + 1;
      const dead = attempt >= this.options.maxAttempts;
      const nextAttemptAt = now + retryBackoffMs(attempt, this.options.backoffBaseMs, this.options.backoffMaxMs);
      const changed = await this.store().markFailed({
        owner: this.instanceId,
        seqs: group.map((row) => row.seq),
        previousAttempts,
        nextAttemptAt,
        dead,
        error: text,
      });
      if (!dead && changed > 0) this.earliestRetryAt = Math.min(this.earliestRetryAt, nextAttemptAt);
      this.counters.failed += changed;
      this.telemetry.relayRows(dead ? 'dead' : 'failed', changed);
      if (dead) {
        this.counters.dead += changed;
        if (changed > 0) {
          this.logger.error(
            `${changed} outbox row(s) failed ${attempt} time(s) and are now dead; later messages with the same keys wait ` +
              `until an operator retries or discards them. Last error: ${text}` +
              messagesLogFields(group),
          );
        }
      } else if (changed > 0) {
        this.logger.warn(
          `Sending ${changed} outbox row(s) failed (attempt ${attempt} of ${this.options.maxAttempts}); retrying later: ${text}` +
            messagesLogFields(group),
        );
      }
    }
  }
}
