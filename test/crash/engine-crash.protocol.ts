import type { EngineStats } from '@reliable-mq/engine';

/**
 * What the crash child and the crash spec agree on: the topics, the group, the planned handler failures, and the
 * JSON lines the child writes to stdout. Every line is written synchronously before the effect it reports becomes
 * visible to the engine, so a line that reached the parent is a fact even when the child was killed right after.
 */

export const CRASH_GROUP = 'crash-group';
export const CRASH_MEMBER = 'crash-member';
/** Custom levels: retry n waits level n, so the retry path runs in milliseconds. */
export const CRASH_RETRY_LEVELS = '5ms 10ms';
export const CRASH_MAX_RECONSUME = 4;

export const ORDERS = 'crash.orders';
export const PAYMENTS = 'crash.payments';
export const CRASH_TOPICS: ReadonlyArray<{ name: string; queueCount: number }> = [
  { name: ORDERS, queueCount: 4 },
  { name: PAYMENTS, queueCount: 2 },
];

export const messageIdOf = (run: number, seq: number): string => `r${run}-s${seq}`;

export const topicOf = (seq: number): string => (seq % 3 === 2 ? PAYMENTS : ORDERS);

/** Several keys, and some messages without a key (round-robin queue choice). */
export const keyOf = (seq: number): string | undefined => (seq % 10 === 7 ? undefined : `key-${seq % 8}`);

/**
 * How many times the handler rejects a message before it succeeds. Only orders fail: the subscription to orders is
 * made first, so a retry copy is never read before its topic's subscription exists.
 */
export function plannedFailures(seq: number, topic: string): number {
  if (topic !== ORDERS) return 0;
  if (seq % 11 === 0) return 2;
  if (seq % 4 === 0) return 1;
  return 0;
}

export interface CrashBody {
  run: number;
  seq: number;
}

/** Committed offset (or head) per business topic and queue. */
export type OffsetView = Record<string, Record<number, number>>;

export interface GroupView {
  offsets: OffsetView;
  lag: number;
  inFlight: number;
  retryPending: number;
  dlq: number;
}

export interface PositionedId {
  id: string;
  topic: string;
  queueId: number;
  queueOffset: number;
}

export type ChildLine =
  /** Right after open, before subscribing: what storage says. `view` is null before the group's first run. */
  | { kind: 'open'; run: number; pid: number; view: GroupView | null; heads: OffsetView }
  | { kind: 'producing' }
  /** Written before `publish` is called. */
  | { kind: 'intent'; batch: number; ids: string[] }
  /** Written only after `publish` resolved. */
  | { kind: 'confirmed'; batch: number; results: PositionedId[] }
  | { kind: 'rejected'; batch: number; error: string }
  /** Written when the handler starts. `source` is the topic the copy was read from (a retry topic for retries). */
  | {
      kind: 'delivered';
      id: string;
      reconsume: number;
      deliveryCount: number;
      source: string;
      queueId: number;
      queueOffset: number;
    }
  /** Written just before the handler resolves. */
  | { kind: 'acked'; id: string; reconsume: number }
  /** Written just before the handler rejects. */
  | { kind: 'failed'; id: string; reconsume: number }
  /** In-memory view of the crash group, from `engine.stats()`. */
  | { kind: 'stats'; view: GroupView; scheduledPending: number }
  | { kind: 'error'; message: string }
  /** Drain mode: everything consumed and the engine closed cleanly. */
  | { kind: 'drained'; view: GroupView; heads: OffsetView };

export function groupViewOf(stats: EngineStats, group: string): GroupView | null {
  const entries = stats.groups.filter((entry) => entry.group === group);
  if (entries.length === 0) return null;
  const view: GroupView = { offsets: {}, lag: 0, inFlight: 0, retryPending: 0, dlq: 0 };
  for (const entry of entries) {
    view.offsets[entry.topic] = { ...entry.committedOffsets };
    view.lag += entry.lag;
    view.inFlight += entry.inFlight;
    view.retryPending += entry.retryPending;
    view.dlq += entry.dlqCount;
  }
  return view;
}

/** Next offset per queue of the business topics. */
export function headsOf(stats: EngineStats): OffsetView {
  const heads: OffsetView = {};
  for (const topic of stats.topics) {
    if (!CRASH_TOPICS.some((known) => known.name === topic.topic)) continue;
    heads[topic.topic] = Object.fromEntries(topic.queues.map((queue) => [queue.queueId, queue.maxOffset]));
  }
  return heads;
}
