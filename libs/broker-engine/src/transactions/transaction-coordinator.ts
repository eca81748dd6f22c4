import type { Database } from 'better-sqlite3';
import { DelayScheduler } from '../delay/delay-scheduler';
import type { ResolvedEngineOptions } from '../engine-options';
import type {
  HalfMessage,
  HalfMessageChecker,
  HalfMessagePage,
  HalfMessageQuery,
  HalfMessageState,
  HalfResolution,
  HalfResolvedBy,
  HalfSendOptions,
  HalfSendResult,
  PublishMessage,
  PublishResult,
  TransactionStats,
} from '../engine.types';
import { EngineClosedError, InvalidArgumentError, TransactionNotFoundError, TransactionStateError } from '../errors';
import { describeError } from '../headers';
import { prepareBatch } from '../publish/message-preparer';
import { newMessageOf, type NewMessage } from '../storage/message-row';
import { validateName } from '../util/names';
import { uuidv7 } from '../util/uuid-v7';
import { CheckerSet } from './checker-set';
import { HalfMessagePruner, type HalfPruneResult } from './half-message-pruner';
import { HalfMessageStore, toHalfMessage, type HalfMessageRow } from './half-message-store';

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

interface Answer {
  outcome: 'commit' | 'rollback' | 'unknown';
  /** Why the outcome is unknown, for the discard reason. */
  note: string;
}

/** Producers and checkbacks may resolve a discarded message too: a late answer is still the producer's truth. */
const RESOLVABLE: readonly HalfMessageState[] = ['unresolved', 'discarded'];
/** Operators act on the discarded list only. */
const OPERATOR_FROM: readonly HalfMessageState[] = ['discarded'];

/**
 * Transactional (half) messages: stored durably but invisible, then committed (made visible, once) or rolled back
 * (kept for audit only). Unresolved ones are checked back with their producer group's checkers: first
 * `transactionTimeoutMs` after sending, then every `checkIntervalMs`, at most `transactionCheckMax` times; after the
 * last unanswered check they move to the discarded list, where an operator commits or discards them.
 *
 * Every state change is one conditional UPDATE run inside the engine's group commit. The engine is single-threaded
 * and its database synchronous, so a producer's commit and a checkback answer are applied one after the other, and
 * the second finds the state already changed: a message is delivered once or not at all.
 */
export class TransactionCoordinator {
  private readonly store: HalfMessageStore;
  private readonly checkers = new CheckerSet();
  private readonly scheduler: DelayScheduler;
  private readonly pruner: HalfMessagePruner;
  /** Transactions whose checker call is still running, so a slow checker is not asked twice at once. */
  private readonly checking = new Set<string>();
  private stopped = false;

  constructor(private readonly host: TransactionHost) {
    this.store = new HalfMessageStore(host.db);
    this.scheduler = new DelayScheduler(
      () => this.store.nextCheckAt(),
      () => host.now(),
      () => this.runDueChecks(),
      (error) => host.options.onError(error),
    );
    this.pruner = new HalfMessagePruner(
      this.store,
      {
        submit: (apply) => host.submit(apply, false),
        now: () => host.now(),
        onWarning: (message) => host.options.onWarning(message),
        stopped: () => this.stopped,
      },
      { retentionMs: host.options.transactions.halfMessageRetentionMs, chunkSize: host.options.retentionChunkSize },
    );
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
    this.scheduler.stop();
    this.checkers.clear();
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
    const txId = uuidv7(now);
    const nextCheckAt = now + this.host.options.transactions.transactionTimeoutMs;
    const result = await this.host.submit((): HalfSendResult => {
      const existing = this.store.getByMessageId(prepared.messageId);
      if (existing) {
        return { txId: existing.tx_id, messageId: existing.message_id, topic: existing.topic, duplicate: true };
      }
      if (this.host.isPublished(prepared.messageId)) {
        throw new InvalidArgumentError(
          `Message id ${prepared.messageId} already belongs to a published message; a half message needs an id of its own. Nothing was stored.`,
        );
      }
      this.store.insert({
        txId,
        messageId: prepared.messageId,
        producerGroup,
        topic: prepared.topic,
        key: prepared.key,
        tags: prepared.tags,
        headers: prepared.headers,
        body: prepared.body,
        sentAt: now,
        deliverAt,
        ttlMs: prepared.expireAt === null ? null : prepared.expireAt - now,
        nextCheckAt,
      });
      return { txId, messageId: prepared.messageId, topic: prepared.topic, duplicate: false };
    }, true);
    if (!result.duplicate) this.scheduler.note(nextCheckAt);
    return result;
  }

  async commit(txId: string, by: HalfResolvedBy = 'producer'): Promise<HalfResolution> {
    return this.resolve(checkTxId(txId), 'committed', by, null);
  }

  async rollback(txId: string, reason: string | null = null, by: HalfResolvedBy = 'producer'): Promise<HalfResolution> {
    if (reason !== null && typeof reason !== 'string')
      throw new InvalidArgumentError('A rollback reason must be a string.');
    return this.resolve(checkTxId(txId), 'rolled_back', by, reason ?? `rolled back by the ${by}`);
  }

  private resolve(
    txId: string,
    to: 'committed' | 'rolled_back',
    by: HalfResolvedBy,
    reason: string | null,
  ): Promise<HalfResolution> {
    return this.host.submit(
      () => this.transition(txId, RESOLVABLE, to, by, reason, to === 'committed' ? 'commit' : 'rollback', true),
      false,
    );
  }

  /**
   * Runs inside a commit. The UPDATE decides; the read afterwards only explains a refusal. `idempotent`: a message
   * already in the target state is a success (producer and checkback answers); operators get an error instead.
   */
  private transition(
    txId: string,
    from: readonly HalfMessageState[],
    to: 'committed' | 'rolled_back',
    by: HalfResolvedBy,
    reason: string | null,
    attempted: ConstructorParameters<typeof TransactionStateError>[2],
    idempotent: boolean,
  ): HalfResolution {
    const now = this.host.now();
    if (this.store.resolve(txId, from, to, by, reason, now)) {
      const row = this.store.get(txId)!;
      if (to === 'committed') this.deliver(row, now);
      return { txId, messageId: row.message_id, topic: row.topic, state: to, alreadyResolved: false };
    }
    const row = this.store.get(txId);
    if (!row) throw new TransactionNotFoundError(txId);
    if (row.state === to && idempotent) {
      return { txId, messageId: row.message_id, topic: row.topic, state: to, alreadyResolved: true };
    }
    throw new TransactionStateError(txId, row.state, attempted);
  }

  /** Publishes the committed message now: it is enqueued at commit time, and its TTL counts from there. */
  private deliver(row: HalfMessageRow, now: number): void {
    this.host.storeForDelivery(
      newMessageOf(row, now, row.ttl_ms === null ? null : now + row.ttl_ms),
      row.deliver_at !== null && row.deliver_at > now ? row.deliver_at : null,
      now,
    );
  }

  // ---------------------------------------------------------------- retention

  /**
   * Deletes records of half messages resolved longer than `halfMessageRetentionMs` ago, in chunks. A later commit or
   * rollback of a deleted id is refused as unknown (TransactionNotFoundError): the record, and with it the outcome,
   * is gone, and nothing is stored or delivered again. Closing the engine ends the pass after its current chunk.
   */
  async pruneResolved(): Promise<HalfPruneResult> {
    try {
      return await this.pruner.prune();
    } catch (error) {
      if (this.stopped && error instanceof EngineClosedError) return { committed: 0, rolled_back: 0, discarded: 0 };
      throw error;
    }
  }

  // ---------------------------------------------------------------- checkers

  register(producerGroup: string, checker: HalfMessageChecker): () => void {
    const group = validateName('group', producerGroup);
    if (typeof checker !== 'function') {
      throw new InvalidArgumentError(
        `registerTransactionChecker("${group}") needs a function (half) => Promise<"commit" | "rollback" | "unknown">.`,
      );
    }
    return this.checkers.add(group, checker);
  }

  checkerCount(producerGroup: string): number {
    return this.checkers.size(producerGroup);
  }

  private async runDueChecks(): Promise<{ moved: number; more: boolean }> {
    if (this.stopped) return { moved: 0, more: false };
    const interval = this.host.options.transactions.checkIntervalMs;
    const { due, claimed } = await this.host.submit(() => {
      const now = this.host.now();
      const rows = this.store.due(now, CHECK_BATCH);
      const taken: HalfMessageRow[] = [];
      for (const row of rows) {
        if (this.checking.has(row.tx_id)) {
          this.store.postpone(row.tx_id, now + interval);
          continue;
        }
        this.store.claim(row.tx_id, now + interval);
        taken.push({ ...row, check_count: row.check_count + 1, next_check_at: now + interval });
      }
      return { due: rows.length, claimed: taken };
    }, false);
    if (!this.stopped) for (const row of claimed) this.check(row);
    return { moved: due, more: due === CHECK_BATCH };
  }

  /** One counted check of one half message; never throws. */
  private check(row: HalfMessageRow): void {
    const checker = this.checkers.next(row.producer_group);
    if (!checker) {
      if (!row.warned) {
        this.host.options.onWarning(
          `No transaction checker is registered for producer group "${row.producer_group}": half message ${row.tx_id} ` +
            `(topic "${row.topic}", message ${row.message_id}) stays unresolved and is checked again in ` +
            `${this.host.options.transactions.checkIntervalMs} ms (check ${row.check_count} of ${this.host.options.transactions.transactionCheckMax}). ` +
            'Start an instance of that producer group with a checker, or commit or roll it back by hand.',
        );
        this.host
          .submit(() => this.store.markWarned(row.tx_id), false)
          .catch((error: unknown) => this.reportLate(error));
      }
      void this.apply(row, {
        outcome: 'unknown',
        note: `no checker is registered for producer group "${row.producer_group}"`,
      });
      return;
    }
    const timeoutMs = this.host.options.transactions.checkIntervalMs;
    this.checking.add(row.tx_id);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.checking.delete(row.tx_id);
      void this.apply(row, { outcome: 'unknown', note: `the checker did not answer within ${timeoutMs} ms` });
    }, timeoutMs);
    timer.unref();
    void this.ask(checker, row).then((answer) => {
      if (timedOut) {
        // A decisive answer that comes late is still the producer's truth; an unknown one was already counted.
        if (answer.outcome !== 'unknown') void this.apply(row, answer);
        return;
      }
      clearTimeout(timer);
      this.checking.delete(row.tx_id);
      void this.apply(row, answer);
    });
  }

  private async ask(checker: HalfMessageChecker, row: HalfMessageRow): Promise<Answer> {
    const where = `checker of producer group "${row.producer_group}" on half message ${row.tx_id} (check ${row.check_count} of ${this.host.options.transactions.transactionCheckMax})`;
    try {
      const answer: unknown = await checker(toHalfMessage(row));
      if (answer === 'commit' || answer === 'rollback') return { outcome: answer, note: '' };
      if (answer === 'unknown') return { outcome: 'unknown', note: 'the checker answered unknown' };
      this.host.options.onWarning(
        `The ${where} answered ${JSON.stringify(answer)}; expected "commit", "rollback" or "unknown". Counted as unknown.`,
      );
      return { outcome: 'unknown', note: `the checker answered ${JSON.stringify(answer) ?? 'undefined'}` };
    } catch (error) {
      this.host.options.onWarning(`The ${where} failed: ${describeError(error)}. Counted as unknown.`);
      return { outcome: 'unknown', note: `the checker failed: ${describeError(error)}` };
    }
  }

  /** Applies a check's answer; never throws. */
  private async apply(row: HalfMessageRow, answer: Answer): Promise<void> {
    if (this.stopped) return;
    try {
      if (answer.outcome === 'commit') {
        await this.resolve(row.tx_id, 'committed', 'checkback', null);
        return;
      }
      if (answer.outcome === 'rollback') {
        await this.resolve(row.tx_id, 'rolled_back', 'checkback', 'rolled back by checkback');
        return;
      }
      const max = this.host.options.transactions.transactionCheckMax;
      if (row.check_count < max) return;
      await this.host.submit(
        () =>
          this.store.discard(
            row.tx_id,
            `No answer after ${row.check_count} checks; last check: ${answer.note}.`,
            this.host.now(),
          ),
        false,
      );
    } catch (error) {
      if (error instanceof TransactionNotFoundError) {
        // Reachable only when an answer outlives the retention of its (discarded) record.
        this.host.options.onWarning(
          `A checkback answered ${answer.outcome} for half message ${row.tx_id}, but its record was already deleted ` +
            '(halfMessageRetentionMs); the answer is ignored and nothing is delivered.',
        );
        return;
      }
      if (error instanceof TransactionStateError) {
        this.host.options.onWarning(
          `A checkback answered ${answer.outcome} for half message ${row.tx_id}, but it was already ${error.state.replace('_', ' ')}; the first answer stands. ` +
            'The checker of producer group "' +
            row.producer_group +
            '" disagrees with its producer: check how it reads local state.',
        );
        return;
      }
      this.reportLate(error);
    }
  }

  private reportLate(error: unknown): void {
    if (this.stopped || error instanceof EngineClosedError) return;
    this.host.options.onError(error instanceof Error ? error : new Error(String(error)));
  }

  // ---------------------------------------------------------------- operators

  list(query: HalfMessageQuery): HalfMessagePage {
    return this.store.query(query);
  }

  get(txId: string): HalfMessage | undefined {
    const row = this.store.get(checkTxId(txId));
    return row && toHalfMessage(row);
  }

  /** Commits discarded half messages by hand: all of them or none. */
  async commitDiscarded(txIds: readonly string[]): Promise<string[]> {
    return this.resolveByOperator(txIds, 'committed', null, 'commit a discarded');
  }

  /** Discards (rolls back) discarded half messages by hand with a reason kept for audit: all of them or none. */
  async discardDiscarded(txIds: readonly string[], reason: string): Promise<string[]> {
    if (typeof reason !== 'string' || reason.trim() === '') {
      throw new InvalidArgumentError('Discarding half messages needs a non-empty reason.');
    }
    return this.resolveByOperator(txIds, 'rolled_back', reason, 'discard a discarded');
  }

  /** Moves every one of `txIds` out of the discarded list in one commit, or none of them. */
  private resolveByOperator(
    txIds: readonly string[],
    to: 'committed' | 'rolled_back',
    reason: string | null,
    attempted: ConstructorParameters<typeof TransactionStateError>[2],
  ): Promise<string[]> {
    const ids = this.checkIds(txIds);
    return this.host.submit(() => {
      for (const txId of ids) this.transition(txId, OPERATOR_FROM, to, 'operator', reason, attempted, false);
      return [...ids];
    }, false);
  }

  private checkIds(txIds: readonly string[]): readonly string[] {
    if (!Array.isArray(txIds) || txIds.length === 0 || txIds.some((id) => typeof id !== 'string' || id.length === 0)) {
      throw new InvalidArgumentError('Pass a non-empty array of transaction ids (strings).');
    }
    if (txIds.length > this.host.options.maxBatchSize) {
      throw new InvalidArgumentError(
        `At most ${this.host.options.maxBatchSize} half messages per call (maxBatchSize).`,
      );
    }
    if (new Set(txIds).size !== txIds.length) throw new InvalidArgumentError('The transaction ids must be distinct.');
    return txIds;
  }

  stats(): TransactionStats {
    return this.store.counts();
  }
}

function checkTxId(txId: unknown): string {
  if (typeof txId !== 'string' || txId.length === 0 || txId.length > 128) {
    throw new InvalidArgumentError(`A transaction id is a string of 1–128 characters; got ${JSON.stringify(txId)}.`);
  }
  return txId;
}
