import {
  InvalidArgumentError,
  TransactionNotFoundError,
  TransactionStateError,
  uuidv7,
  validateName,
  type HalfMessagePage,
  type HalfMessageQuery,
  type HalfMessageState,
  type HalfResolvedBy,
} from '@reliable-mq/engine';
import { describeError } from '@reliable-mq/engine';
import type { DataSource } from 'typeorm';
import { insertOutboxRows } from '../outbox/insert-outbox-rows';
import type {
  HalfMessageListQuery,
  HalfSendConfirm,
  TransactionCheckHandler,
  TransactionalOperations,
  TransportMessage,
} from '../transport/transport.interface';
import { HalfMessageStore, toHalfMessage, type HalfMessageRow } from './half-message-store';

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
/** Ids named in the warning about discarded records deleted undecided. */
const WARN_IDS = 10;
const RESOLVABLE: readonly HalfMessageState[] = ['unresolved', 'discarded'];
const MAX_IDS = 1000;

type Answer = { outcome: 'commit' | 'rollback' | 'unknown'; note: string };

/**
 * Transactional messages for a broker without half messages (RabbitMQ): the half record and its checkback live in
 * the producer's database (`rmq_half_message`), and a commit hands the message to the outbox.
 *
 * - `sendHalf` inserts the row in its own transaction: it is durable before the local transaction runs. No
 *   consumer sees it: nothing reaches the broker yet.
 * - `commit` changes the row to `committed` and inserts the outbox row in ONE database transaction; the relay then
 *   sends it with confirms. So the message is delivered exactly when the commit is recorded, and enqueued at
 *   commit time. `rollback` only changes the row, which stays for audit.
 * - Checks run in every process holding this object once something was sent or a checker registered: due rows are
 *   claimed with a conditional UPDATE (one instance per check), the producer group's checker in this process is
 *   asked, and the answer is applied with the same conditional UPDATEs as the producer's calls, so an answer and a
 *   racing commit give one delivery or none. Without a checker here, the check is counted; after
 *   `transactionCheckMax` unanswered checks the row moves to the discarded list.
 */
export class OutboxTransactionalOperations implements TransactionalOperations {
  private readonly store: HalfMessageStore;
  private readonly checkers = new Map<string, TransactionCheckHandler[]>();
  private readonly nextChecker = new Map<string, number>();
  private readonly warned = new Set<string>();
  private readonly checking = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private started = false;
  private stopped = false;
  /** When the last pruning pass ran; the first runs one interval after checks start. */
  private prunedAt = Date.now();

  constructor(private readonly options: OutboxTransactionsOptions) {
    this.store = new HalfMessageStore(options.dataSource);
  }

  async sendHalf(message: TransportMessage, producerGroup: string): Promise<HalfSendConfirm> {
    const group = validateName('group', producerGroup);
    this.ensureOpen();
    const existing = await this.store.getByMessageId(message.id);
    if (existing) return { txId: existing.txId, id: existing.messageId, duplicate: true };
    await this.options.admitTopic?.(message.topic);
    const now = Date.now();
    const txId = uuidv7(now);
    await this.store.insert({
      txId,
      messageId: message.id,
      producerGroup: group,
      topic: message.topic,
      key: message.key ?? null,
      tags: message.tags ?? [],
      headers: message.headers,
      payload: message.body.toString('utf8'),
      deliverAt: message.deliverAt ?? null,
      state: 'unresolved',
      checkCount: 0,
      nextCheckAt: now + this.options.transactionTimeoutMs,
      sentAt: now,
    });
    this.start();
    return { txId, id: message.id, duplicate: false };
  }

  async commit(txId: string): Promise<void> {
    await this.resolve(checkTxId(txId), 'committed', 'producer', null, 'commit', true);
  }

  async rollback(txId: string, reason?: string): Promise<void> {
    if (reason !== undefined && typeof reason !== 'string')
      throw new InvalidArgumentError('A rollback reason must be a string.');
    await this.resolve(
      checkTxId(txId),
      'rolled_back',
      'producer',
      reason ?? 'rolled back by the producer',
      'rollback',
      true,
    );
  }

  async registerChecker(producerGroup: string, checker: TransactionCheckHandler): Promise<() => Promise<void>> {
    const group = validateName('group', producerGroup);
    if (typeof checker !== 'function') {
      throw new InvalidArgumentError(
        `registerChecker("${group}") needs a function (half) => Promise<"commit" | "rollback" | "unknown">.`,
      );
    }
    this.checkers.set(group, [...(this.checkers.get(group) ?? []), checker]);
    this.start();
    return async () => {
      const list = (this.checkers.get(group) ?? []).filter((candidate) => candidate !== checker);
      if (list.length > 0) this.checkers.set(group, list);
      else this.checkers.delete(group);
    };
  }

  listUnresolved(query: HalfMessageListQuery = {}): Promise<HalfMessagePage> {
    return this.store.list({ ...checkQuery(query), state: 'unresolved' });
  }

  listDiscarded(query: HalfMessageListQuery = {}): Promise<HalfMessagePage> {
    return this.store.list({ ...checkQuery(query), state: 'discarded' });
  }

  /** Half messages in any state (`state` defaults to `any`), newest first; for operators and tests. */
  list(query: HalfMessageQuery = {}): Promise<HalfMessagePage> {
    return this.store.list({ ...checkQuery(query), state: query.state ?? 'any' });
  }

  /** One half message in any state, or undefined; for operators and tests. */
  async get(txId: string): Promise<ReturnType<typeof toHalfMessage> | undefined> {
    const row = await this.store.get(checkTxId(txId));
    return row && toHalfMessage(row);
  }

  async commitDiscarded(txIds: readonly string[]): Promise<string[]> {
    const ids = checkIds(txIds);
    await this.store.inTransaction(async (runner) => {
      for (const txId of ids)
        await this.transition(txId, ['discarded'], 'committed', 'operator', null, 'commit a discarded', false, runner);
    });
    this.options.onCommitted?.();
    return [...ids];
  }

  async discardDiscarded(txIds: readonly string[], reason: string): Promise<string[]> {
    if (typeof reason !== 'string' || reason.trim() === '') {
      throw new InvalidArgumentError('Discarding half messages needs a non-empty reason.');
    }
    const ids = checkIds(txIds);
    await this.store.inTransaction(async (runner) => {
      for (const txId of ids)
        await this.transition(
          txId,
          ['discarded'],
          'rolled_back',
          'operator',
          reason,
          'discard a discarded',
          false,
          runner,
        );
    });
    return [...ids];
  }

  /** Stops checking; waits for the pass in progress. */
  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
    this.checkers.clear();
  }

  private ensureOpen(): void {
    if (this.stopped)
      throw new InvalidArgumentError('The transport is closed; transactional messages are no longer accepted.');
  }

  private async resolve(
    txId: string,
    to: 'committed' | 'rolled_back',
    by: HalfResolvedBy,
    reason: string | null,
    attempted: 'commit' | 'rollback',
    idempotent: boolean,
  ): Promise<void> {
    const changed = await this.store.inTransaction((runner) =>
      this.transition(txId, RESOLVABLE, to, by, reason, attempted, idempotent, runner),
    );
    if (changed && to === 'committed') this.options.onCommitted?.();
  }

  /** Inside `runner`'s transaction: the UPDATE decides, and a commit writes the outbox row with it. */
  private async transition(
    txId: string,
    from: readonly HalfMessageState[],
    to: 'committed' | 'rolled_back',
    by: HalfResolvedBy,
    reason: string | null,
    attempted: ConstructorParameters<typeof TransactionStateError>[2],
    idempotent: boolean,
    runner: Parameters<Parameters<HalfMessageStore['inTransaction']>[0]>[0],
  ): Promise<boolean> {
    const now = Date.now();
    if (await this.store.transition(txId, from, to, by, reason, now, runner)) {
      if (to === 'committed') {
        const row = (await this.store.get(txId, runner))!;
        await insertOutboxRows(runner, [outboxMessageOf(row)], row.producerGroup, now);
      }
      return true;
    }
    const row = await this.store.get(txId, runner);
    if (!row) throw new TransactionNotFoundError(txId);
    if (row.state === to && idempotent) return false;
    throw new TransactionStateError(txId, row.state, attempted);
  }

  // ---------------------------------------------------------------- checkbacks

  private start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.schedule();
  }

  private get pollMs(): number {
    return Math.max(
      20,
      Math.min(1000, Math.floor(Math.min(this.options.transactionTimeoutMs, this.options.checkIntervalMs) / 2)),
    );
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.runDueChecks()
        .catch((error: unknown) => this.options.error(`Half-message checkback pass failed: ${describeError(error)}`))
        .finally(() => {
          this.running = undefined;
          this.schedule();
        });
    }, this.pollMs);
    this.timer.unref();
  }

  /**
   * Deletes resolved records older than the retention, in chunks, and answers how many went. Runs by itself about
   * every 10 minutes; discarded records deleted without an operator's decision are named in a warning.
   */
  async pruneResolved(now: number = Date.now()): Promise<number> {
    const retention =
      this.options.halfMessageRetentionMs === undefined
        ? DEFAULT_HALF_RETENTION_MS
        : this.options.halfMessageRetentionMs;
    this.prunedAt = now;
    if (retention === null) return 0;
    let total = 0;
    const discarded: string[] = [];
    for (;;) {
      if (this.stopped) break;
      const chunk = await this.store.pruneResolved(now - retention, PRUNE_CHUNK);
      total += chunk.deleted;
      discarded.push(...chunk.discardedIds);
      if (chunk.deleted < PRUNE_CHUNK) break;
    }
    if (discarded.length > 0) {
      const named = discarded.slice(0, WARN_IDS).join(', ');
      this.options.warn(
        `Deleted ${discarded.length} discarded half message record(s) left undecided for longer than the retention ` +
          `(${retention} ms): ${named}${discarded.length > WARN_IDS ? ', …' : ''}.`,
      );
    }
    return total;
  }

  private async runDueChecks(): Promise<void> {
    const now = Date.now();
    if (now - this.prunedAt >= PRUNE_EVERY_MS) await this.pruneResolved(now);
    for (const row of await this.store.due(now, CHECK_BATCH)) {
      if (this.stopped) return;
      if (this.checking.has(row.txId)) continue;
      if (!(await this.store.claimCheck(row, now + this.options.checkIntervalMs))) continue;
      this.check({ ...row, checkCount: row.checkCount + 1 });
    }
  }

  private pickChecker(group: string): TransactionCheckHandler | undefined {
    const list = this.checkers.get(group);
    if (!list || list.length === 0) return undefined;
    const index = (this.nextChecker.get(group) ?? 0) % list.length;
    this.nextChecker.set(group, index + 1);
    return list[index];
  }

  /** One counted check; never throws. */
  private check(row: HalfMessageRow): void {
    const checker = this.pickChecker(row.producerGroup);
    if (!checker) {
      if (!this.warned.has(row.txId)) {
        this.warned.add(row.txId);
        this.options.warn(
          `No transaction checker is registered for producer group "${row.producerGroup}" in this process: half message ${row.txId} ` +
            `(topic "${row.topic}", message ${row.messageId}) stays unresolved and is checked again in ${this.options.checkIntervalMs} ms ` +
            `(check ${row.checkCount} of ${this.options.transactionCheckMax}). Start an instance of that producer group with a checker, or commit or roll it back by hand.`,
        );
      }
      void this.apply(row, {
        outcome: 'unknown',
        note: `no checker is registered for producer group "${row.producerGroup}"`,
      });
      return;
    }
    this.checking.add(row.txId);
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      this.checking.delete(row.txId);
      void this.apply(row, {
        outcome: 'unknown',
        note: `the checker did not answer within ${this.options.checkIntervalMs} ms`,
      });
    }, this.options.checkIntervalMs);
    timer.unref();
    void this.ask(checker, row).then((answer) => {
      if (settled) {
        // A decisive answer that comes late is still the producer's truth.
        if (answer.outcome !== 'unknown') void this.apply(row, answer);
        return;
      }
      clearTimeout(timer);
      this.checking.delete(row.txId);
      void this.apply(row, answer);
    });
  }

  private async ask(checker: TransactionCheckHandler, row: HalfMessageRow): Promise<Answer> {
    try {
      const answer: unknown = await checker(toHalfMessage(row));
      if (answer === 'commit' || answer === 'rollback') return { outcome: answer, note: '' };
      return { outcome: 'unknown', note: `the checker answered ${JSON.stringify(answer) ?? 'undefined'}` };
    } catch (error) {
      return { outcome: 'unknown', note: `the checker failed: ${describeError(error)}` };
    }
  }

  private async apply(row: HalfMessageRow, answer: Answer): Promise<void> {
    if (this.stopped) return;
    try {
      if (answer.outcome === 'commit') {
        await this.resolve(row.txId, 'committed', 'checkback', null, 'commit', true);
        return;
      }
      if (answer.outcome === 'rollback') {
        await this.resolve(row.txId, 'rolled_back', 'checkback', 'rolled back by checkback', 'rollback', true);
        return;
      }
      if (row.checkCount < this.options.transactionCheckMax) return;
      await this.store.transition(
        row.txId,
        ['unresolved'],
        'discarded',
        null,
        `No answer after ${row.checkCount} checks; last check: ${answer.note}.`,
        Date.now(),
      );
    } catch (error) {
      if (error instanceof TransactionStateError) {
        this.options.warn(
          `A checkback answered ${answer.outcome} for half message ${row.txId}, but it was already ${error.state.replace('_', ' ')}; the first answer stands. ` +
            `The checker of producer group "${row.producerGroup}" disagrees with its producer: check how it reads local state.`,
        );
        return;
      }
      if (!this.stopped)
        this.options.error(`Applying a checkback answer to half message ${row.txId} failed: ${describeError(error)}`);
    }
  }
}

function checkTxId(txId: unknown): string {
  if (typeof txId !== 'string' || txId.length === 0 || txId.length > 128) {
    throw new InvalidArgumentError(`A transaction id is a string of 1–128 characters; got ${JSON.stringify(txId)}.`);
  }
  return txId;
}

function checkIds(txIds: readonly string[]): readonly string[] {
  if (!Array.isArray(txIds) || txIds.length === 0 || txIds.some((id) => typeof id !== 'string' || id.length === 0)) {
    throw new InvalidArgumentError('Pass a non-empty array of transaction ids (strings).');
  }
  if (txIds.length > MAX_IDS) throw new InvalidArgumentError(`At most ${MAX_IDS} half messages per call.`);
  if (new Set(txIds).size !== txIds.length) throw new InvalidArgumentError('The transaction ids must be distinct.');
  return txIds;
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

function outboxMessageOf(row: HalfMessageRow): Parameters<typeof insertOutboxRows>[1][number] {
  return {
    id: row.messageId,
    topic: row.topic,
    key: row.key,
    tags: row.tags,
    headers: row.headers,
    payload: row.payload,
    deliverAt: row.deliverAt,
  };
}
