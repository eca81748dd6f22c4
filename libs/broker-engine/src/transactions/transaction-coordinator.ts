import type { Database } from 'better-sqlite3';
import type { ResolvedEngineOptions } from '../engine-options';
import type {
  HalfMessage,
  HalfMessageChecker,
  HalfMessagePage,
  HalfMessageQuery,
  HalfResolution,
  HalfResolvedBy,
  HalfSendOptions,
  HalfSendResult,
  PublishMessage,
  PublishResult,
  TransactionStats,
} from '../engine.types';
import { EngineClosedError, InvalidArgumentError } from '../errors';
import { prepareBatch } from '../publish/message-preparer';
import { decodeHeaders, decodeTags, type NewMessage } from '../storage/message-row';
import { validateName } from '../util/names';
import { uuidv7 } from '../util/uuid-v7';
import { CheckbackScheduler } from './checkback-scheduler';
import type { HalfPruneResult } from './half-message-pruner';
import { checkTxId, HalfMessageResolutions } from './half-message-resolutions';
import { toHalfMessage } from './half-message-store';
import { SqliteHalfMessageLedger } from './sqlite-half-message-ledger';

/** What the engine lends the coordinator: its database, its commit queue, and publish's own checks and writes. */
export interface TransactionHost {
  db: Database;
  options: ResolvedEngineOptions;
  now(): number;
  /** Runs `apply` in the next group commit; resolves after that commit is durable. */
  submit<T>(apply: () => T, publish: boolean): Promise<T>;
  /** The topic checks of `publish`: reserved names refused, unknown topics refused or created. */
  admitTopic(topic: string): void;
  /** Stores a message for delivery inside the running commit, exactly as `publish` does (an id already held is not stored again). */
  storeForDelivery(message: NewMessage, deliverAt: number | null, now: number): PublishResult;
  /** True when a published (visible or delayed) message holds this id. */
  isPublished(messageId: string): boolean;
}

/** Due half messages claimed per pass. */
const CHECK_BATCH = 256;

/**
 * Transactional (half) messages in the engine: stored durably but invisible, then committed (made visible, once)
 * or rolled back (kept for audit only). The state changes, the checkback and retention are the storage-neutral
 * ones of this folder (HalfMessageResolutions, CheckbackScheduler, pruneHalfMessages) over the engine's SQLite
 * ledger; what is the engine's own is how a half message is admitted (publish's checks and limits) and read
 * synchronously by its API.
 */
export class TransactionCoordinator {
  private readonly ledger: SqliteHalfMessageLedger;
  private readonly resolutions: HalfMessageResolutions;
  private readonly scheduler: CheckbackScheduler;
  private stopped = false;

  constructor(private readonly host: TransactionHost) {
    const options = host.options;
    this.ledger = new SqliteHalfMessageLedger(
      { ...host, onWarning: (message) => options.onWarning(message), stopped: () => this.stopped },
      { retentionMs: options.transactions.halfMessageRetentionMs, chunkSize: options.retentionChunkSize },
    );
    this.resolutions = new HalfMessageResolutions(this.ledger, {
      now: () => host.now(),
      maxIds: options.maxBatchSize,
      maxIdsSetting: 'maxBatchSize',
    });
    this.scheduler = new CheckbackScheduler({
      ledger: this.ledger,
      resolutions: this.resolutions,
      now: () => host.now(),
      checkIntervalMs: options.transactions.checkIntervalMs,
      transactionCheckMax: options.transactions.transactionCheckMax,
      batchSize: CHECK_BATCH,
      onWarning: (message) => options.onWarning(message),
      onError: (error) => options.onError(error),
      isClosedError: (error) => error instanceof EngineClosedError,
    });
  }

  /** Arms the check timer from storage, so checks left by a previous run resume. */
  start(): void {
    this.scheduler.start();
  }

  /** Housekeeping hook: runs checks whose timer fired before a (test) clock reached their time. */
  fireIfDue(): void {
    this.scheduler.fireIfDue();
  }

  stop(): void {
    this.stopped = true;
    void this.scheduler.stop();
  }

  // ---------------------------------------------------------------- producer

  async sendHalf(message: PublishMessage, options: HalfSendOptions): Promise<HalfSendResult> {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidArgumentError('sendHalf() needs options such as { producerGroup: "order-service" }.');
    }
    const producerGroup = validateName('group', options.producerGroup);
    const now = this.host.now();
    const { message: prepared, deliverAt } = prepareBatch([message], this.host.options, now)[0]!;
    this.host.admitTopic(prepared.topic);
    const nextCheckAt = now + this.host.options.transactions.transactionTimeoutMs;
    const { half, duplicate } = await this.ledger.insert({
      txId: uuidv7(now),
      messageId: prepared.messageId,
      producerGroup,
      topic: prepared.topic,
      key: prepared.key,
      tags: decodeTags(prepared.tags),
      headers: decodeHeaders(prepared.headers),
      body: prepared.body,
      sentAt: now,
      deliverAt,
      ttlMs: prepared.expireAt === null ? null : prepared.expireAt - now,
      nextCheckAt,
    });
    if (!duplicate) this.scheduler.note(nextCheckAt);
    return { txId: half.txId, messageId: half.messageId, topic: half.topic, duplicate };
  }

  async commit(txId: string, by: HalfResolvedBy = 'producer'): Promise<HalfResolution> {
    return this.resolutions.commit(txId, by);
  }

  async rollback(txId: string, reason: string | null = null, by: HalfResolvedBy = 'producer'): Promise<HalfResolution> {
    return this.resolutions.rollback(txId, reason, by);
  }

  // ---------------------------------------------------------------- retention

  /**
   * Deletes records of half messages resolved longer than `halfMessageRetentionMs` ago, in chunks. A later commit or
   * rollback of a deleted id is refused as unknown (TransactionNotFoundError): the record, and with it the outcome,
   * is gone, and nothing is stored or delivered again. Closing the engine ends the pass after its current chunk.
   */
  async pruneResolved(): Promise<HalfPruneResult> {
    try {
      return await this.ledger.pruner.prune();
    } catch (error) {
      if (this.stopped && error instanceof EngineClosedError) return { committed: 0, rolled_back: 0, discarded: 0 };
      throw error;
    }
  }

  // ---------------------------------------------------------------- checkers

  register(producerGroup: string, checker: HalfMessageChecker): () => void {
    return this.scheduler.register(producerGroup, checker);
  }

  checkerCount(producerGroup: string): number {
    return this.scheduler.checkerCount(producerGroup);
  }

  // ---------------------------------------------------------------- operators

  list(query: HalfMessageQuery): HalfMessagePage {
    return this.ledger.store.query(query);
  }

  get(txId: string): HalfMessage | undefined {
    const row = this.ledger.store.get(checkTxId(txId));
    return row && toHalfMessage(row);
  }

  /** Commits discarded half messages by hand: all of them or none. */
  async commitDiscarded(txIds: readonly string[]): Promise<string[]> {
    return this.resolutions.commitDiscarded(txIds);
  }

  /** Discards (rolls back) discarded half messages by hand with a reason kept for audit: all of them or none. */
  async discardDiscarded(txIds: readonly string[], reason: string): Promise<string[]> {
    return this.resolutions.discardDiscarded(txIds, reason);
  }

  stats(): TransactionStats {
    return this.ledger.store.counts();
  }
}
