import type { Database } from 'better-sqlite3';
import type { ConsumerGroup } from '../consume/consumer-group';
import type { QueueRuntime } from '../consume/queue-runtime';
import { InvalidArgumentError } from '../errors';
import type { OffsetResetPlan, QueueResetPlan } from './offset-reset-plan';

const DRAIN_POLL_MS = 20;
const DRAIN_TIMEOUT_MS = 60_000;

export interface ResetOffsetsInput {
  db: Database;
  group: ConsumerGroup;
  topic: string;
  queueCount: number;
  timestamp: number;
  /** The next offset a publish would take on a queue of `topic`. */
  headOf: (queueId: number) => number;
  /** Forgets the group's offsets on `topic` still waiting to be written; called inside the reset's transaction. */
  dropPendingOffsets: () => void;
  now: () => number;
  /** Runs `apply` in the engine's commit path; resolves once it is durable. */
  submit: (apply: () => void) => Promise<void>;
}

/**
 * Refuses a group that never subscribed to the topic: it has no offsets to move, and reading its queues would record
 * a starting position for a group name that may only be mistyped.
 */
export function requireSubscription(db: Database, group: string, topic: string): void {
  const found = db.prepare('SELECT 1 FROM subscriptions WHERE group_name = ? AND topic = ?').get(group, topic);
  if (found === undefined) {
    throw new InvalidArgumentError(
      `Group "${group}" has never subscribed to topic "${topic}": it has no offsets to reset. Check both names ` +
        '(the backlog report lists every group and topic).',
    );
  }
}

/** Reads, without changing anything, what `resetOffsets` would do. */
export function planOffsetReset(
  input: Omit<ResetOffsetsInput, 'submit' | 'now' | 'dropPendingOffsets'>,
): OffsetResetPlan {
  const { db, group, topic } = input;
  const firstAtOrAfter = db.prepare(
    'SELECT MIN(queue_offset) AS offset FROM messages WHERE topic = ? AND queue_id = ? AND stored_at >= ?',
  );
  const countBetween = db.prepare(
    `SELECT COUNT(*) AS n, MIN(stored_at) AS oldest, MAX(stored_at) AS newest FROM messages
     WHERE topic = ? AND queue_id = ? AND queue_offset >= ? AND queue_offset < ?`,
  );
  const plan: OffsetResetPlan = {
    group: group.name,
    topic,
    timestamp: input.timestamp,
    queues: [],
    skipped: 0,
    redelivered: 0,
    oldestSkippedAt: null,
    newestSkippedAt: null,
    oldestRedeliveredAt: null,
  };
  for (let queueId = 0; queueId < input.queueCount; queueId++) {
    const queue = group.sharedQueue(topic, queueId);
    const end = Math.max(input.headOf(queueId), queue.committed);
    const found = (firstAtOrAfter.get(topic, queueId, input.timestamp) as { offset: number | null }).offset;
    const to = found ?? end;
    const from = queue.committed;
    const entry: QueueResetPlan = { queueId, from, to, skipped: 0, redelivered: 0 };
    if (to > from) {
      const range = countBetween.get(topic, queueId, from, to) as Range;
      // Offsets the group acked above its committed offset are done already: skipping them drops nothing.
      let ackedInside = 0;
      for (const offset of queue.acked) if (offset >= from && offset < to) ackedInside++;
      entry.skipped = Math.max(0, range.n - ackedInside);
      plan.oldestSkippedAt = earliest(plan.oldestSkippedAt, range.oldest);
      plan.newestSkippedAt = latest(plan.newestSkippedAt, range.newest);
    } else if (to < from) {
      const range = countBetween.get(topic, queueId, to, from) as Range;
      entry.redelivered = range.n;
      plan.oldestRedeliveredAt = earliest(plan.oldestRedeliveredAt, range.oldest);
    }
    plan.skipped += entry.skipped;
    plan.redelivered += entry.redelivered;
    plan.queues.push(entry);
  }
  return plan;
}

/**
 * Moves a clustering group's committed offsets on every queue of `topic` to the first message stored at or after
 * `timestamp`. The group's queues are paused and its in-flight messages finish first; the new offsets, and the
 * removal of acks recorded above them, commit in one transaction, so a crash leaves either the old offsets or the
 * new ones. The plan it returns was computed while the group was paused, so its counts are what was done.
 */
export async function resetOffsets(input: ResetOffsetsInput): Promise<OffsetResetPlan> {
  const { group, topic } = input;
  const queues = Array.from({ length: input.queueCount }, (_, queueId) => group.sharedQueue(topic, queueId));
  const pause = group.pauseQueues(topic);
  try {
    await waitForInflight(queues, topic);
    const plan = planOffsetReset(input);
    const forgetAcked = input.db.prepare(
      `DELETE FROM acked_offsets WHERE group_name = ? AND member_id = '' AND topic = ? AND queue_id = ?`,
    );
    const saveOffset = input.db.prepare(
      `INSERT INTO offsets (group_name, member_id, topic, queue_id, committed, updated_at) VALUES (?, '', ?, ?, ?, ?)
       ON CONFLICT (group_name, member_id, topic, queue_id) DO UPDATE SET committed = excluded.committed,
       updated_at = excluded.updated_at`,
    );
    await input.submit(() => {
      const now = input.now();
      input.dropPendingOffsets();
      for (const entry of plan.queues) {
        forgetAcked.run(group.name, topic, entry.queueId);
        saveOffset.run(group.name, topic, entry.queueId, entry.to, now);
      }
    });
    for (const entry of plan.queues) reposition(queues[entry.queueId]!, entry.to);
    return plan;
  } finally {
    pause.resume();
  }
}

interface Range {
  n: number;
  oldest: number | null;
  newest: number | null;
}

async function waitForInflight(queues: readonly QueueRuntime[], topic: string): Promise<void> {
  const deadline = Date.now() + DRAIN_TIMEOUT_MS;
  while (queues.some((queue) => queue.inflightCount() > 0)) {
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out after ${DRAIN_TIMEOUT_MS} ms waiting for in-flight messages of "${topic}" to finish; ` +
          'stop the slow consumer, or try again once its handlers return.',
      );
    }
    await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
  }
}

/** Forgets what the queue state read, acked or held, and starts it again at `offset`. */
function reposition(queue: QueueRuntime, offset: number): void {
  queue.buffer.length = 0;
  queue.redeliver.length = 0;
  queue.acked.clear();
  queue.deliveryCounts.clear();
  queue.heldFailures = 0;
  queue.heldUntil = 0;
  queue.committed = offset;
  queue.nextFetch = offset;
  queue.persisted = offset;
}

function earliest(current: number | null, value: number | null): number | null {
  if (value === null) return current;
  return current === null ? value : Math.min(current, value);
}

function latest(current: number | null, value: number | null): number | null {
  if (value === null) return current;
  return current === null ? value : Math.max(current, value);
}
