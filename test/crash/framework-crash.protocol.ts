import { writeLineSync } from '../support/child-lines';

/**
 * What the framework crash spec and its two child processes (the producer and the consumer app) agree on: the
 * configuration handed to each child, the table names, and the JSON lines the children write to stdout.
 *
 * Every line is written with a blocking `writeSync` after the fact it reports (a commit returned, a handler started),
 * so a line that reached the parent is true even when the child was SIGKILLed right after writing it.
 */

export const ORDER_TOPIC = 'order.created';
export const ORDER_TOPIC_QUEUES = 4;
export const CONSUMER_GROUP = 'effects-service';
export const PRODUCER_GROUP = 'order-service';
/** Messages in flight at once in the consumer app; the Redis variant's duplicate bound is kills × this. */
export const CONSUMER_PREFETCH = 8;

export type DedupVariant = 'db' | 'redis';

/** Shared by both children and the spec: where the business data lives. */
export interface DatabaseConfig {
  postgresUrl: string;
  /** A schema of its own per spec run; the framework tables and the app tables are all in it. */
  schema: string;
}

export interface ProducerConfig extends DatabaseConfig {
  /** Every transaction with `seq % rollbackEvery === rollbackEvery - 1` throws after publishing. */
  rollbackEvery: number;
  /** Pause between two transactions, chosen at random up to this. */
  maxPauseMs: number;
  /** Hard bounds in case the parent never says stop. */
  maxOrders: number;
  maxRunMs: number;
}

export interface ConsumerConfig extends DatabaseConfig {
  variant: DedupVariant;
  run: number;
  mode: 'crash' | 'drain';
  dataDir: string;
  redisUrl: string;
  redisKeyPrefix: string;
  /** Drain mode: how long to wait for the backlog before failing. */
  drainLimitMs: number;
}

export interface CountersView {
  /** ConsumerRunner counters of the handler: runs that completed, duplicates skipped, failures. */
  handled: number;
  duplicates: number;
  failed: number;
  /** The dedup store's own totals. */
  dedupProcessed: number;
  dedupDuplicates: number;
  dedupBusy: number;
  /** Outbox relay totals of this process. */
  relayClaimed: number;
  relaySent: number;
  relayFenced: number;
}

export type ProducerLine =
  | { kind: 'ready'; pid: number }
  /** Written only after `publisher.transaction` resolved. */
  | { kind: 'committed'; orderId: string; messageId: string }
  /** Written only after `publisher.transaction` rejected with the planned error. */
  | { kind: 'rolled-back'; orderId: string }
  /** A transaction failed in a way that was not planned; whether it committed is unknown. */
  | { kind: 'in-doubt'; orderId: string; error: string }
  | { kind: 'done'; committed: number; rolledBack: number; inDoubt: number }
  | { kind: 'error'; message: string };

export type ConsumerLine =
  | { kind: 'starting'; run: number; pid: number }
  /** After `app.init()`: the relay and the consumer are running. */
  | { kind: 'ready'; run: number }
  /** Written when the handler starts, before it writes anything. */
  | { kind: 'invoked'; orderId: string; messageId: string; attempt: number }
  /** Written after the effect INSERT returned (committed in the Redis variant; inside the open inbox transaction in the db variant). */
  | { kind: 'effect'; orderId: string }
  /** Written as the handler returns; the dedup store records the outcome and the broker acks after this. */
  | { kind: 'returning'; orderId: string }
  | { kind: 'counters'; counters: CountersView }
  | { kind: 'log'; level: string; context: string; message: string }
  /** Drain mode: the app was idle (outbox empty, broker idle) and closed cleanly. */
  | { kind: 'drained'; counters: CountersView }
  | { kind: 'error'; message: string };

/** Writes one JSON line to stdout and returns only once it is in the pipe. */
export const emitLine = (line: ProducerLine | ConsumerLine): void => writeLineSync(line);

/** The PostgreSQL application_name of a consumer run's connections, so the spec can wait until they are all gone. */
export const consumerApplicationName = (schema: string, run: number): string => `${schema}:r${run}`.slice(-63);

export const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** The app tables, qualified with the run's schema. `effects.order_id` is deliberately not unique. */
export function appTables(schema: string): { orders: string; effects: string } {
  return { orders: `${quoteIdent(schema)}."orders"`, effects: `${quoteIdent(schema)}."effects"` };
}
