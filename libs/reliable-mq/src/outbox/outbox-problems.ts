/*
 * What an operator sees of the outbox and may do to it: the rows the relay could not send (dead) or has not sent for
 * too long (stuck). The console lists them through OutboxStore and requeues or discards them there, so the rules of
 * leases and per-key order have one owner.
 */

/** `stuck`: pending and written before a threshold. `dead`: the relay gave up on it after its last attempt. */
export type OutboxProblem = 'stuck' | 'dead';

/** Columns a problem list may be ordered by, and the SQL column of each; `seq` breaks ties. */
export const OUTBOX_ORDER_COLUMNS = {
  seq: 'seq',
  id: 'id',
  topic: 'topic',
  key: 'msg_key',
  attempts: 'attempts',
  createdAt: 'created_at',
  nextAttemptAt: 'next_attempt_at',
  error: 'last_error',
} as const;

export type OutboxOrderColumn = keyof typeof OUTBOX_ORDER_COLUMNS;

export const OUTBOX_ORDER_COLUMN_NAMES = Object.keys(OUTBOX_ORDER_COLUMNS) as readonly OutboxOrderColumn[];

export interface OutboxProblemQuery {
  problem: OutboxProblem;
  topic?: string;
  key?: string;
  /** A pending row written (`created_at`) before this time (epoch ms) is stuck. */
  stuckBefore: number;
  limit: number;
  offset: number;
  /** Default `seq` ascending: oldest first. NULLs sort last in either direction, on every database. */
  order?: { column: OutboxOrderColumn; dir: 'asc' | 'desc' };
}

export interface OutboxTopicProblems {
  topic: string;
  stuck: number;
  dead: number;
}

export interface OutboxProblemCounts {
  pending: number;
  stuck: number;
  dead: number;
  /** `created_at` of the oldest pending row; null when none is pending. */
  oldestPendingAt: number | null;
  /** Topics with at least one stuck or dead row. */
  byTopic: OutboxTopicProblems[];
}

/**
 * Why an operator may not requeue or discard `row` at `now`, or null when they may: the same rule as the fence in
 * OutboxStore's `requeue` and `discard`, for callers that check a selection before they change it.
 */
export function operatorRefusal(
  row: { status: string; leaseUntil: number | null },
  now: number,
): 'sent' | 'being sent' | null {
  if (row.status === 'sent') return 'sent';
  if (row.status === 'pending' && row.leaseUntil !== null && row.leaseUntil >= now) return 'being sent';
  return null;
}
