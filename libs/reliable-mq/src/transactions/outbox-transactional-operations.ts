import {
  CheckbackScheduler,
  HalfMessageResolutions,
  InvalidArgumentError,
  checkTxId,
  pruneHalfMessages,
  uuidv7,
  validateName,
  type HalfMessage,
  type HalfMessagePage,
  type HalfMessageQuery,
  type HalfMessageState,
} from '@reliable-mq/engine';
import type { DataSource } from 'typeorm';
import type {
  HalfMessageListQuery,
  HalfSendConfirm,
  TransactionCheckHandler,
  TransactionalOperations,
  TransportMessage,
} from '../transport/transport.interface';
import { DatabaseHalfMessageLedger } from './database-half-message-ledger';

export interface OutboxTransactionsOptions {
  dataSource: DataSource;
  /** A half message still unresolved this long after it was sent is checked back. */
  transactionTimeoutMs: number;
  /** Interval between checks of one half message. */
  checkIntervalMs: number;
  /** Checks before it moves to the discarded list. */
  transactionCheckMax: number;
  /**
   * Resolved records (committed, rolled back, discarded) older than this are deleted, 500 per transaction, about
   * every 10 minutes while checks run. `null` keeps them. Default 7 days.
   */
  halfMessageRetentionMs?: number | null;
  /** Refuses a topic the broker does not know, as a publish would. */
  admitTopic?: (topic: string) => Promise<void>;
  /** Called after a commit has written the outbox row, so that the relay sends it at once. */
  onCommitted?: () => void;
  warn(message: string): void;
  error(message: string): void;
}

const CHECK_BATCH = 100;
const DEFAULT_HALF_RETENTION_MS = 7 * 24 * 3_600_000;
const PRUNE_EVERY_MS = 10 * 60_000;
const PRUNE_CHUNK = 500;
const MAX_IDS = 1000;

/**
 * Transactional messages for a broker without half messages (RabbitMQ): the half record and its checkback live in
 * the producer's database (`rmq_half_message`, see DatabaseHalfMessageLedger), and a commit hands the message to
 * the outbox. Resolutions, checkbacks and retention are the engine's own, run over that ledger.
 *
 * - `sendHalf` inserts the row in its own transaction: it is durable before the local transaction runs. No
 *   consumer sees it: nothing reaches the broker yet.
 * - `commit` changes the row to `committed` and inserts the outbox row in ONE database transaction; the relay then
 *   sends it with confirms. `rollback` only changes the row, which stays for audit.
 * - Checks run in every process holding this object once something was sent or a checker registered, looking at
 *   the table at least every half check interval (other processes add half messages this one does not hear of).
 *   Without a checker here, the check is counted; after `transactionCheckMax` unanswered checks the row moves to
 *   the discarded list.
 */
export class OutboxTransactionalOperations implements TransactionalOperations {
  private readonly ledger: DatabaseHalfMessageLedger;
  private readonly resolutions: HalfMessageResolutions;
  private readonly scheduler: CheckbackScheduler;
  private readonly retentionMs: number | null;
  private stopped = false;

  constructor(private readonly options: OutboxTransactionsOptions) {
    this.ledger = new DatabaseHalfMessageLedger(options.dataSource);
    this.retentionMs =
      options.halfMessageRetentionMs === undefined ? DEFAULT_HALF_RETENTION_MS : options.halfMessageRetentionMs;
    this.resolutions = new HalfMessageResolutions(this.ledger, {
      now: () => Date.now(),
      maxIds: MAX_IDS,
      onCommitted: () => options.onCommitted?.(),
    });
    this.scheduler = new CheckbackScheduler({
      ledger: this.ledger,
      resolutions: this.resolutions,
      now: () => Date.now(),
      checkIntervalMs: options.checkIntervalMs,
      transactionCheckMax: options.transactionCheckMax,
      batchSize: CHECK_BATCH,
      pollMs: Math.max(
        20,
        Math.min(1000, Math.floor(Math.min(options.transactionTimeoutMs, options.checkIntervalMs) / 2)),
      ),
      retention: { everyMs: PRUNE_EVERY_MS, run: () => this.pruneResolved() },
      onWarning: (message) => options.warn(message),
      onError: (error) => options.error(`Half-message checkback failed: ${error.message}`),
    });
  }

  async sendHalf(message: TransportMessage, producerGroup: string): Promise<HalfSendConfirm> {
    const group = validateName('group', producerGroup);
    this.ensureOpen();
    await this.options.admitTopic?.(message.topic);
    const now = Date.now();
    const nextCheckAt = now + this.options.transactionTimeoutMs;
    const { half, duplicate } = await this.ledger.insert({
      txId: uuidv7(now),
      messageId: message.id,
      producerGroup: group,
      topic: message.topic,
      key: message.key ?? null,
      tags: message.tags ?? [],
      headers: message.headers,
      body: message.body,
      sentAt: now,
      deliverAt: message.deliverAt ?? null,
      ttlMs: null,
      nextCheckAt,
    });
    this.scheduler.start();
    if (!duplicate) this.scheduler.note(nextCheckAt);
    return { txId: half.txId, id: half.messageId, duplicate };
  }

  async commit(txId: string): Promise<void> {
    await this.resolutions.commit(txId);
  }

  async rollback(txId: string, reason?: string): Promise<void> {
    await this.resolutions.rollback(txId, reason ?? null);
  }

  async registerChecker(producerGroup: string, checker: TransactionCheckHandler): Promise<() => Promise<void>> {
    const unregister = this.scheduler.register(producerGroup, checker);
    this.scheduler.start();
    return async () => unregister();
  }

  listUnresolved(query: HalfMessageListQuery = {}): Promise<HalfMessagePage> {
    return this.ledger.list({ ...checkQuery(query), state: 'unresolved' });
  }

  listDiscarded(query: HalfMessageListQuery = {}): Promise<HalfMessagePage> {
    return this.ledger.list({ ...checkQuery(query), state: 'discarded' });
  }

  /** Half messages in any state (`state` defaults to `any`), oldest first; for operators and tests. */
  list(query: HalfMessageQuery = {}): Promise<HalfMessagePage> {
    return this.ledger.list({ ...checkQuery(query), state: checkState(query.state) });
  }

  /** One half message in any state, or undefined; for operators and tests. */
  get(txId: string): Promise<HalfMessage | undefined> {
    return this.ledger.get(checkTxId(txId));
  }

  commitDiscarded(txIds: readonly string[]): Promise<string[]> {
    return this.resolutions.commitDiscarded(txIds);
  }

  discardDiscarded(txIds: readonly string[], reason: string): Promise<string[]> {
    return this.resolutions.discardDiscarded(txIds, reason);
  }

  /**
   * Deletes resolved records older than the retention, 500 per transaction, and answers how many went. Runs by
   * itself about every 10 minutes while checks run; discarded records deleted without an operator's decision are
   * named in a warning.
   */
  async pruneResolved(now: number = Date.now()): Promise<number> {
    const pruned = await pruneHalfMessages(this.ledger, {
      retentionMs: this.retentionMs,
      chunkSize: PRUNE_CHUNK,
      now: () => now,
      onWarning: (message) => this.options.warn(message),
      stopped: () => this.stopped,
    });
    return pruned.committed + pruned.rolled_back + pruned.discarded;
  }

  /** Stops checking; waits for the pass in progress. */
  async close(): Promise<void> {
    this.stopped = true;
    await this.scheduler.stop();
  }

  private ensureOpen(): void {
    if (this.stopped)
      throw new InvalidArgumentError('The transport is closed; transactional messages are no longer accepted.');
  }
}

const STATES: ReadonlyArray<HalfMessageState | 'any'> = ['unresolved', 'committed', 'rolled_back', 'discarded', 'any'];

function checkState(state: HalfMessageQuery['state']): HalfMessageState | 'any' {
  if (state === undefined) return 'any';
  if (!STATES.includes(state)) {
    throw new InvalidArgumentError(`state must be ${STATES.join(', ')}; got ${JSON.stringify(state)}.`);
  }
  return state;
}

function checkQuery(query: HalfMessageListQuery): {
  producerGroup?: string;
  topic?: string;
  id?: string;
  limit: number;
  offset: number;
} {
  const limit = query.limit ?? 100;
  const offset = query.offset ?? 0;
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new InvalidArgumentError(`limit must be an integer from 1 to 1000; got ${limit}.`);
  }
  if (!Number.isInteger(offset) || offset < 0)
    throw new InvalidArgumentError(`offset must be a non-negative integer; got ${offset}.`);
  return { producerGroup: query.producerGroup, topic: query.topic, id: query.id, limit, offset };
}
