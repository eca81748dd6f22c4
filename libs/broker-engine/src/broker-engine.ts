import type BetterSqlite3 from 'better-sqlite3';
import { ConsumerGroups } from './consume/consumer-groups';
import { FailureRouter } from './consume/failure-router';
import type { GroupContext } from './consume/group-context';
import { OffsetJournal } from './consume/offset-journal';
import { resolveSubscription } from './consume/subscription-options';
import { DelayScheduler } from './delay/delay-scheduler';
import { DeadLetterOperations } from './dlq/dead-letter-operations';
import { DeadLetterStore } from './dlq/dead-letter-store';
import { resolveEngineOptions, type ResolvedEngineOptions } from './engine-options';
import type {
  DeadLetter,
  DeadLetterPage,
  DeadLetterQuery,
  EngineOptions,
  EngineStats,
  HalfMessage,
  HalfMessageChecker,
  HalfMessagePage,
  HalfMessageQuery,
  HalfResolution,
  HalfSendOptions,
  HalfSendResult,
  PublishMessage,
  PublishResult,
  ResendEdit,
  SubscribeOptions,
  Subscription,
  TopicInfo,
  TopicOptions,
} from './engine.types';
import { EngineClosedError, InvalidArgumentError, ReliableMqError } from './errors';
import { HEADER_ORIGINAL_ID } from './headers';
import { GroupCommitter } from './publish/group-committer';
import { prepareBatch } from './publish/message-preparer';
import { QueueOffsetTable } from './publish/queue-offset-table';
import { QueueWriter } from './publish/queue-writer';
import { RetentionSweeper } from './retention/retention-sweeper';
import { collectStats } from './stats/collect-stats';
import { RateMeters } from './stats/rate-meters';
import { DiskGuard } from './storage/disk-guard';
import { decodeHeaders, encodeHeaders } from './storage/message-row';
import { MessageStore } from './storage/message-store';
import { openDatabase } from './storage/open-database';
import { TopicAdmission } from './topics/topic-admission';
import { TopicRegistry } from './topics/topic-registry';
import { TransactionCoordinator } from './transactions/transaction-coordinator';
import { validateName } from './util/names';
import { uuidv7 } from './util/uuid-v7';
import { moveBacklog } from './backlog/move-backlog';
import { backlogReport, type BacklogReport } from './backlog/backlog-report';
import type { OffsetResetPlan } from './backlog/offset-reset-plan';
import { planOffsetReset, requireSubscription, resetOffsets } from './backlog/reset-offsets';

export { DATABASE_FILE } from './storage/open-database';

/** Scheduled messages moved into their queues per commit when they fall due. */
const DUE_MESSAGES_PER_COMMIT = 500;

/**
 * The included broker: topics of queues on one SQLite database (WAL), publish with
 * durable confirms, consumer groups with push delivery, retry levels, DLQ, delay, TTL
 * and retention. Single process: the engine owns its data directory while open.
 *
 * This class is the public API and the wiring of its parts: every write goes through one group commit, whose hooks
 * persist queue heads and consumer offsets and then wake the groups and the delay scheduler.
 */
export class BrokerEngine {
  readonly options: ResolvedEngineOptions;
  private readonly db: BetterSqlite3.Database;
  private readonly store: MessageStore;
  private readonly topics: TopicRegistry;
  private readonly heads = new QueueOffsetTable();
  private readonly writer: QueueWriter;
  private readonly offsets: OffsetJournal;
  private readonly committer: GroupCommitter;
  private readonly scheduler: DelayScheduler;
  private readonly retention: RetentionSweeper;
  private readonly transactions: TransactionCoordinator;
  private readonly deadLetterStore: DeadLetterStore;
  private readonly deadLetters: DeadLetterOperations;
  private readonly groups: ConsumerGroups;
  private readonly rates = new RateMeters();
  private readonly diskGuard: DiskGuard;
  private readonly admission: TopicAdmission;
  private readonly timers: NodeJS.Timeout[] = [];
  private state: 'open' | 'closing' | 'closed' = 'open';

  private constructor(options: ResolvedEngineOptions) {
    this.options = options;
    this.db = openDatabase(options);
    this.store = new MessageStore(this.db);
    this.deadLetterStore = new DeadLetterStore(this.db);
    this.topics = new TopicRegistry(this.db);
    this.admission = new TopicAdmission(this.db, this.topics, options, () => this.now());
    this.diskGuard = new DiskGuard(options);
    for (const row of this.db.prepare('SELECT topic, queue_id, next_offset FROM queues').all() as Array<{
      topic: string;
      queue_id: number;
      next_offset: number;
    }>) {
      this.heads.load(row.topic, row.queue_id, row.next_offset);
    }
    this.writer = new QueueWriter(this.store, this.topics, this.heads);
    this.committer = new GroupCommitter(
      this.db,
      {
        beforeCommit: () => this.writeQueueState(),
        afterCommit: () => this.afterCommit(),
        afterRollback: () => this.afterRollback(),
        publishGuard: () => this.diskGuard.check(),
        mapError: (error) => (error instanceof Error ? error : new Error(String(error))),
      },
      options.maxDatabaseBytes,
    );
    this.offsets = new OffsetJournal(this.store, (delayMs) => {
      if (this.state !== 'closed') this.committer.requestFlush(delayMs);
    });
    const failures = new FailureRouter({
      writer: this.writer,
      deadLetters: this.deadLetterStore,
      submit: (apply) => this.committer.submit(apply, { publish: false }),
      now: () => this.now(),
    });
    this.deadLetters = new DeadLetterOperations({
      deadLetters: this.deadLetterStore,
      failures,
      limits: options,
      ensureRetryTopic: (topic) => this.admission.ensureSystem(topic),
      submit: (apply, submitOptions) => this.committer.submit(apply, submitOptions),
      now: () => this.now(),
    });
    this.groups = new ConsumerGroups({
      db: this.db,
      context: this.createGroupContext(failures),
      admission: this.admission,
      submit: (apply) => this.committer.submit(apply, { publish: false }),
      requestFlush: (delayMs) => this.committer.requestFlush(delayMs),
      ensureOpen: (operation) => this.ensureOpen(operation),
      now: () => this.now(),
    });
    this.scheduler = new DelayScheduler(
      () => this.store.nextDueAt(),
      () => this.now(),
      () => this.moveDueMessages(),
      options.onError,
    );
    this.retention = new RetentionSweeper(
      this.db,
      () => this.topics.list(),
      (apply) => this.committer.submit(apply, { publish: false }),
      {
        retentionMs: options.retentionMs,
        chunkSize: options.retentionChunkSize,
        now: () => this.now(),
        pruneHalfMessages: () => this.transactions.pruneResolved(),
      },
    );
    this.transactions = new TransactionCoordinator({
      db: this.db,
      options,
      now: () => this.now(),
      submit: (apply, publish) => this.committer.submit(apply, { publish }),
      admitTopic: (topic) => this.admission.admit(topic, 'send'),
      storeForDelivery: (message, deliverAt, now) => this.writer.write(message, deliverAt, now),
      isPublished: (messageId) => this.store.findById(messageId) !== undefined,
    });
  }

  /** Opens (creating or migrating) the engine's database in `dataDir`. */
  static open(options: EngineOptions): BrokerEngine {
    const engine = new BrokerEngine(resolveEngineOptions(options));
    engine.start();
    return engine;
  }

  private start(): void {
    this.scheduler.start();
    this.transactions.start();
    const maintenance = setInterval(() => this.runMaintenance(), this.options.maintenanceIntervalMs);
    const retention = setInterval(() => {
      this.runRetention().catch((error: unknown) => this.options.onError(error as Error));
    }, this.options.retentionIntervalMs);
    for (const timer of [maintenance, retention]) {
      timer.unref();
      this.timers.push(timer);
    }
  }

  private now(): number {
    return this.options.clock.now();
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  private ensureOpen(operation: string): void {
    if (this.state !== 'open') throw new EngineClosedError(operation);
  }

  // ---------------------------------------------------------------- topics

  /** Creates a topic, or returns the existing one unchanged. */
  createTopic(name: string, options: TopicOptions = {}): TopicInfo {
    this.ensureOpen('create a topic');
    return this.admission.create(name, options);
  }

  getTopic(name: string): TopicInfo | undefined {
    return this.topics.get(name);
  }

  listTopics(): TopicInfo[] {
    return this.topics.list();
  }

  // --------------------------------------------------------------- publish

  /**
   * Stores a batch atomically and resolves once it is durable: after an fsync'd commit in
   * `sync` mode, after a commit in `async` mode. A rejected batch stores nothing.
   */
  async publish(messages: readonly PublishMessage[]): Promise<PublishResult[]> {
    this.ensureOpen('publish');
    const now = this.now();
    const prepared = prepareBatch(messages, this.options, now);
    for (const { message } of prepared) this.admission.admit(message.topic, 'publish');
    const results = await this.committer.submit(
      () =>
        prepared.map(({ message, deliverAt, generatedId }) => this.writer.write(message, deliverAt, now, !generatedId)),
      { publish: true },
    );
    for (const result of results) if (!result.duplicate) this.rates.markPublished(result.topic, now);
    return results;
  }

  // ----------------------------------------------------- commit bookkeeping

  /** Inside every commit, after its operations: the queues' next offsets and the consumer offsets that moved. */
  private writeQueueState(): void {
    this.writer.writeHeads();
    this.offsets.write(this.now());
  }

  private afterCommit(): void {
    this.offsets.committed();
    const { touchedTopics, earliestScheduled } = this.writer.committed();
    if (touchedTopics.size > 0) this.groups.wake(touchedTopics);
    if (earliestScheduled !== Number.POSITIVE_INFINITY) this.scheduler.note(earliestScheduled);
  }

  private afterRollback(): void {
    this.writer.rolledBack();
    this.offsets.rolledBack();
  }

  private async moveDueMessages(): Promise<{ moved: number; more: boolean }> {
    const moved = await this.committer.submit(() => this.writer.moveDue(this.now(), DUE_MESSAGES_PER_COMMIT), {
      publish: false,
    });
    return { moved, more: moved === DUE_MESSAGES_PER_COMMIT };
  }

  private createGroupContext(failures: FailureRouter): GroupContext {
    return {
      store: this.store,
      clock: this.options.clock,
      queueHeads: this.heads,
      consumeTimeoutMs: this.options.consumeTimeoutMs,
      sessionTimeoutMs: this.options.sessionTimeoutMs,
      fetchBatch: 64,
      queueCount: (topic) => this.topics.queueCount(topic),
      markOffsetDirty: (group, owner, topic, queueId, committed) =>
        this.offsets.mark(group, owner, topic, queueId, committed),
      failures,
      reportError: (error) => this.options.onError(error),
      onDelivered: (group, topic) => this.rates.markDelivered(group, topic, this.now()),
    };
  }

  // -------------------------------------------------------------- consume

  /** Joins a member to a consumer group on a topic and starts pushing messages to its handler. */
  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    this.ensureOpen('subscribe');
    return this.groups.join(resolveSubscription(options, this.options.delayLevels), options.handler);
  }

  /** Keeps a member that does not use the engine's own heartbeat (a remote one) alive. */
  heartbeat(group: string, memberId: string): boolean {
    this.ensureOpen('heartbeat');
    return this.groups.get(group)?.heartbeat(memberId, this.now()) ?? false;
  }

  /** Consume timeouts, session expiry, held queues and due delayed messages. Runs on a timer; tests may call it. */
  runMaintenance(): void {
    if (this.state === 'closed') return;
    const now = this.now();
    for (const group of this.groups.all()) group.maintain(now);
    this.scheduler.fireIfDue();
    this.transactions.fireIfDue();
  }

  // ------------------------------------------------------------------ DLQ

  listDeadLetters(query: DeadLetterQuery = {}): DeadLetterPage {
    this.ensureOpen('list dead letters');
    return this.deadLetters.list(query);
  }

  getDeadLetter(id: number): DeadLetter | undefined {
    this.ensureOpen('read a dead letter');
    return this.deadLetters.get(id);
  }

  /**
   * Sends dead letters back through their group's retry topic (so only that group
   * handles them again), optionally with an edited body or headers. Resolves with the
   * ids resent; all of them or none are written.
   */
  async resendDeadLetters(ids: readonly number[], edit: ResendEdit = {}): Promise<number[]> {
    this.ensureOpen('resend dead letters');
    return this.deadLetters.resend(ids, edit);
  }

  /** Marks dead letters as discarded with a reason; they stay listed for audit. */
  async discardDeadLetters(ids: readonly number[], reason: string): Promise<number[]> {
    this.ensureOpen('discard dead letters');
    return this.deadLetters.discard(ids, reason);
  }

  // ------------------------------------------------- transactional messages

  /**
   * Stores a half message: durable when this resolves (as a publish confirm), invisible to consumers until
   * `commitHalf`. Checked like `publish` (same limits and errors). Re-sending a message id already held returns the
   * first result with `duplicate: true`.
   */
  async sendHalf(message: PublishMessage, options: HalfSendOptions): Promise<HalfSendResult> {
    this.ensureOpen('send a half message');
    return this.transactions.sendHalf(message, options);
  }

  /**
   * Makes a half message visible, enqueued now. Idempotent: committing a committed one changes nothing
   * (`alreadyResolved`). Rejects with TransactionStateError after a rollback. A discarded one may still be committed.
   * Rejects with TransactionNotFoundError once the record was pruned (`halfMessageRetentionMs` after resolution).
   */
  async commitHalf(txId: string): Promise<HalfResolution> {
    this.ensureOpen('commit a half message');
    return this.transactions.commit(txId);
  }

  /**
   * Never delivers the half message; its record stays for audit until `halfMessageRetentionMs` has passed. Idempotent;
   * rejects after a commit, and with TransactionNotFoundError once the record was pruned.
   */
  async rollbackHalf(txId: string, reason?: string): Promise<HalfResolution> {
    this.ensureOpen('roll back a half message');
    return this.transactions.rollback(txId, reason ?? null);
  }

  /**
   * Registers one live instance of a producer group's checker and returns the function that unregisters it. With
   * several instances, checks go round-robin over them. A checker that throws, or answers anything but
   * `commit` / `rollback`, counts as `unknown`.
   */
  registerTransactionChecker(producerGroup: string, checker: HalfMessageChecker): () => void {
    this.ensureOpen('register a transaction checker');
    return this.transactions.register(producerGroup, checker);
  }

  /** Half messages by state (default `discarded`: the ones that ran out of checks). */
  listHalfMessages(query: HalfMessageQuery = {}): HalfMessagePage {
    this.ensureOpen('list half messages');
    return this.transactions.list(query);
  }

  getHalfMessage(txId: string): HalfMessage | undefined {
    this.ensureOpen('read a half message');
    return this.transactions.get(txId);
  }

  /** Commits discarded half messages by hand; all of them or none. */
  async commitDiscardedHalves(txIds: readonly string[]): Promise<string[]> {
    this.ensureOpen('commit discarded half messages');
    return this.transactions.commitDiscarded(txIds);
  }

  /** Discards (never delivers) discarded half messages by hand, with a reason kept for audit; all of them or none. */
  async discardDiscardedHalves(txIds: readonly string[], reason: string): Promise<string[]> {
    this.ensureOpen('discard half messages');
    return this.transactions.discardDiscarded(txIds, reason);
  }

  // ------------------------------------------------------- backlog & stats

  /** Raises a topic's queue count online; members rebalance onto the new queues. Keys may map to new queues afterwards. */
  expandQueues(topic: string, queueCount: number): TopicInfo {
    this.ensureOpen('expand queues');
    const info = this.topics.require(topic);
    TopicRegistry.validateQueueCount(queueCount);
    if (queueCount <= info.queueCount) {
      throw new InvalidArgumentError(
        `Topic "${topic}" already has ${info.queueCount} queues; expandQueues needs a larger count, got ${queueCount}.`,
      );
    }
    this.db.transaction(() => this.topics.resize(topic, queueCount)).immediate();
    for (const group of this.groups.all()) group.rebalance();
    return this.topics.require(topic);
  }

  /**
   * Moves a clustering group's not-yet-delivered backlog on `fromTopic` onto `toTopic`
   * (typically one with more queues), queue by queue in offset order so each key keeps
   * its order. The group must subscribe `toTopic` to consume the moved messages.
   */
  async redistributeBacklog(
    group: string,
    fromTopic: string,
    toTopic: string,
    options: { onProgress?: (moved: number) => void } = {},
  ): Promise<{ moved: number }> {
    this.ensureOpen('redistribute a backlog');
    validateName('group', group);
    this.topics.require(fromTopic);
    this.topics.require(toTopic);
    if (fromTopic === toTopic) throw new InvalidArgumentError('redistributeBacklog needs two different topics.');
    const runtime = this.groups.clustering(group, 'backlogs are moved');
    return moveBacklog({
      group: runtime,
      onProgress: options.onProgress,
      fromTopic,
      toTopic,
      queueCount: this.topics.queueCount(fromTopic),
      toQueueCount: this.topics.queueCount(toTopic),
      store: this.store,
      submit: (apply) => this.committer.submit(apply, { publish: true }),
      saveOffset: (queueId, committed) => this.store.saveOffset(group, '', fromTopic, queueId, committed, this.now()),
      recordTarget: () => this.groups.record(group, toTopic, 'clustering', this.now()),
      writeCopy: (row) => {
        const now = this.now();
        const headers = decodeHeaders(row.headers);
        this.writer.write(
          {
            messageId: uuidv7(now),
            topic: toTopic,
            key: row.key,
            tags: row.tags,
            headers: encodeHeaders({ ...headers, [HEADER_ORIGINAL_ID]: headers[HEADER_ORIGINAL_ID] ?? row.message_id }),
            body: row.body,
            bornAt: row.born_at,
            expireAt: row.expire_at,
          },
          null,
          now,
        );
      },
    });
  }

  /** Per group and topic: lag in messages and in time, rates, members connected and the drain estimate; largest lag first. */
  backlog(): BacklogReport {
    this.ensureOpen('read the backlog');
    return backlogReport(this.collectStats(), (group, topic) => this.groups.activeMembers(group, topic), this.now());
  }

  /** What `resetOffsets(group, topic, timestamp)` would skip or deliver again, read without changing anything. */
  previewOffsetReset(group: string, topic: string, timestamp: number): OffsetResetPlan {
    this.ensureOpen('preview an offset reset');
    return planOffsetReset(this.offsetResetInput(group, topic, timestamp));
  }

  /**
   * Moves a clustering group's offsets on `topic` to the first message stored at or after `timestamp`: forward skips
   * what was stored before it, backward delivers again what was stored since. Resolves with what was done.
   */
  async resetOffsets(group: string, topic: string, timestamp: number): Promise<OffsetResetPlan> {
    this.ensureOpen('reset offsets');
    return resetOffsets({
      ...this.offsetResetInput(group, topic, timestamp),
      now: () => this.now(),
      submit: (apply) => this.committer.submit(apply, { publish: false }),
    });
  }

  private offsetResetInput(group: string, topic: string, timestamp: number) {
    validateName('group', group);
    this.topics.require(topic);
    if (!Number.isFinite(timestamp) || timestamp < 0) {
      throw new InvalidArgumentError(`An offset reset needs a timestamp in epoch ms; got ${String(timestamp)}.`);
    }
    requireSubscription(this.db, group, topic);
    return {
      db: this.db,
      group: this.groups.clustering(group, 'offsets are reset'),
      topic,
      queueCount: this.topics.queueCount(topic),
      timestamp,
      headOf: (queueId: number) => this.heads.peek(topic, queueId),
      dropPendingOffsets: () => this.offsets.dropPending(group, topic),
    };
  }

  stats(): EngineStats {
    this.ensureOpen('read stats');
    return {
      ...this.collectStats(),
      transactions: this.transactions.stats(),
      commitLatency: this.committer.latency.snapshot(),
    };
  }

  private collectStats(): Omit<EngineStats, 'transactions' | 'commitLatency'> {
    return collectStats({
      db: this.db,
      topics: this.topics.list(),
      heads: this.heads,
      groups: [...this.groups.all()],
      deadLetters: this.deadLetterStore,
      now: this.now(),
      publishRate: (topic) => this.rates.publishRate(topic, this.now()),
      deliveryRate: (group, topic) => this.rates.deliveryRate(group, topic, this.now()),
    });
  }

  /**
   * One retention pass now: consumed messages older than `retentionMs`, then records of half messages resolved longer
   * than `halfMessageRetentionMs` ago. Resolves with the number of deleted messages.
   */
  runRetention(): Promise<number> {
    this.ensureOpen('run retention');
    return this.retention.sweep();
  }

  // ---------------------------------------------------------------- close

  /** Stops taking messages, waits (bounded) for in-flight handlers, flushes offsets and closes the database. */
  async close(timeoutMs = 30_000): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closing';
    const removals: Promise<void>[] = [];
    for (const group of this.groups.all()) {
      for (const member of group.members.values()) removals.push(group.removeMember(member, timeoutMs));
    }
    await Promise.all(removals);
    for (const timer of this.timers) clearInterval(timer);
    this.scheduler.stop();
    this.transactions.stop();
    for (const group of this.groups.all()) group.stop();
    do {
      while (this.committer.queued > 0 || this.offsets.pending > 0) {
        this.committer.flush();
        if (this.committer.queued === 0 && this.offsets.pending > 0) {
          // Offsets with no operation queued: commit them on their own.
          this.db.transaction(() => this.writeQueueState()).immediate();
          this.afterCommit();
        }
      }
      // A committed retry or DLQ copy acks its original in a callback; let those run and flush the offsets they move,
      // or the original would be delivered again after a reopen next to its copy.
      await new Promise<void>((resolve) => setImmediate(resolve));
    } while (this.committer.queued > 0 || this.offsets.pending > 0);
    // Offsets acked above a handler that never finished: after a reopen only the unacked come back.
    this.db
      .transaction(() => {
        for (const group of this.groups.all()) group.saveAcked();
      })
      .immediate();
    this.committer.stop();
    this.state = 'closed';
    this.db.close();
  }
}

export { ReliableMqError };
