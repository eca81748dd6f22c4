/**
 * What the transactional crash child and spec agree on: names, timings, the local-state table, and the JSON lines the
 * child writes to stdout. Each line is written synchronously before the step it reports is followed by anything
 * else, so a line that reached the parent is a fact even when the child was killed right after.
 */

export const TX_TOPIC = 'tx-crash.payments';
export const TX_PRODUCER_GROUP = 'tx-crash-producer';
export const TX_QUEUES = 2;

/** Fast checkbacks, so a killed producer's transactions are settled within about a second. */
export const TX_ENGINE_TIMING = { transactionTimeoutMs: 200, checkIntervalMs: 200, transactionCheckMax: 15 } as const;

/**
 * A checker answers `rollback` for a transaction with no local row only once its half message is this old. Local
 * transactions take a few ms, so a younger one may still be running in a live producer: `unknown` then.
 */
export const TX_ROLLBACK_GRACE_MS = 1_000;

/** The producer's local state: one row per locally committed payment, written in the local transaction. */
export const LOCAL_SCHEMA = `
  CREATE TABLE IF NOT EXISTS payments (
    order_id    TEXT PRIMARY KEY,
    message_id  TEXT NOT NULL,
    run         INTEGER NOT NULL,
    paid_at     INTEGER NOT NULL
  )`;

export const LOCAL_DB_FILE = 'local.sqlite';

export interface PaymentPayload {
  orderId: string;
  run: number;
}

/** What the local transaction of an order does, chosen from its number so a run is reproducible from its log. */
export type Plan = 'commit' | 'commit-then-unknown' | 'rollback' | 'throw';

export function planOf(sequence: number): Plan {
  const slot = sequence % 10;
  if (slot === 3) return 'commit-then-unknown';
  if (slot === 6) return 'rollback';
  if (slot === 8) return 'throw';
  return 'commit';
}

export type ChildLine =
  | { kind: 'open'; run: number; pid: number }
  | { kind: 'producing' }
  /** Written first thing in the local transaction: the half message is durable. */
  | { kind: 'local-begin'; orderId: string; messageId: string; txId: string; plan: Plan }
  /** Written right after the local SQLite commit returned. */
  | { kind: 'local-committed'; orderId: string }
  /** The child stops here, after its local commit and before sending the commit, until the parent kills it. */
  | { kind: 'kill-point'; orderId: string }
  /** sendInTransaction returned. */
  | { kind: 'ended'; orderId: string; outcome: string; settled: boolean }
  /** A checkback answered by this process. */
  | { kind: 'checked'; orderId: string; answer: string; checkCount: number }
  | { kind: 'log'; level: string; message: string }
  | { kind: 'error'; message: string }
  /** Settle mode: no half message left unresolved; the app closed cleanly. */
  | { kind: 'settled'; unresolved: number; discarded: number };
