import type BetterSqlite3 from 'better-sqlite3';
import { backlogReport, type BacklogReport } from './backlog/backlog-report';
import type { OffsetResetPlan, RedistributeOptions } from './backlog/offset-reset-plan';
import type { HandoutHandler } from './consume/handout';
import { resolveSubscription } from './consume/subscription-options';
import { resolveEngineOptions, type ResolvedEngineOptions } from './engine-options';
import { assembleEngineParts, type EngineParts } from './engine-parts';
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
  MessageHandler,
  PublishMessage,
  PublishResult,
  ResendEdit,
  SubscribeOptions,
  Subscription,
  TopicInfo,
  TopicOptions,
} from './engine.types';
import { EngineClosedError, ReliableMqError } from './errors';
import { prepareBatch } from './publish/message-preparer';
import { collectStats } from './stats/collect-stats';

export { DATABASE_FILE } from './storage/database-file';

/**
 * The included broker: topics of queues on one SQLite database (WAL), publish with
 * durable confirms, consumer groups with push delivery, retry levels, DLQ, delay, TTL
 * and retention. Single process: the engine owns its data directory while open.
 *
 * This class is the public API: each method checks that the engine is open and hands the call to the part that owns
 * it (`engine-parts.ts` builds and wires them). Opening, the timers and the order of closing are its own.
 */
export class BrokerEngine {
  readonly options: ResolvedEngineOptions;
  private readonly parts: EngineParts;
  private readonly db: BetterSqlite3.Database;
  private readonly timers: NodeJS.Timeout[] = [];
  private state: 'open' | 'closing' | 'closed' = 'open';

  private constructor(options: ResolvedEngineOptions) {
    this.options = options;
    this.parts = assembleEngineParts(options, {
      isClosed: () => this.state === 'closed',
      ensureOpen: (operation) => this.ensureOpen(operation),
    });
    this.db = this.parts.db;
  }

  /** Opens (creating or migrating) the engine's database in `dataDir`. */
  static open(options: EngineOptions): BrokerEngine {
    const engine = new BrokerEngine(resolveEngineOptions(options));
    engine.start();
    return engine;
  }

  private start(): void {
    this.parts.scheduler.start();
    this.parts.transactions.start();
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
    return this.parts.admission.create(name, options);
  }

  getTopic(name: string): TopicInfo | undefined {
    return this.parts.topics.get(name);
  }

  listTopics(): TopicInfo[] {
    return this.parts.topics.list();
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
    for (const { message } of prepared) this.parts.admission.admit(message.topic, 'publish');
    const results = await this.parts.committer.submit(
      () =>
        prepared.map(({ message, deliverAt, generatedId }) =>
          this.parts.writer.write(message, deliverAt, now, !generatedId),
        ),
      { publish: true },
    );
    for (const result of results) if (!result.duplicate) this.parts.rates.markPublished(result.topic, now);
    return results;
  }

  // -------------------------------------------------------------- consume

  /** Joins a member to a consumer group on a topic and starts pushing messages to its handler. */
  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    this.ensureOpen('subscribe');
    return this.parts.groups.join(resolveSubscription(options, this.options.delayLevels), options.handler);
  }

  /**
   * The worker engine's member: handed up to `readAhead` messages beyond its prefetch, which its thread holds until
   * one of the prefetch's handlers is free, each with its hand-out (see Handout).
   * @internal
   */
  async subscribeReadingAhead(
    options: Omit<SubscribeOptions, 'handler'>,
    readAhead: number,
    handler: HandoutHandler,
  ): Promise<Subscription> {
    this.ensureOpen('subscribe');
    // resolveSubscription checks only that a handler is a function.
    const resolved = resolveSubscription({ ...options, handler: handler as MessageHandler }, this.options.delayLevels);
    return this.parts.groups.join({ ...resolved, prefetch: resolved.prefetch + readAhead }, handler, true);
  }

  /** Keeps a member that does not use the engine's own heartbeat (a remote one) alive. */
  heartbeat(group: string, memberId: string): boolean {
    this.ensureOpen('heartbeat');
    return this.parts.groups.get(group)?.heartbeat(memberId, this.now()) ?? false;
  }

  /** Consume timeouts, session expiry, held queues and due delayed messages. Runs on a timer; tests may call it. */
  runMaintenance(): void {
    if (this.state === 'closed') return;
    const now = this.now();
    for (const group of this.parts.groups.all()) group.maintain(now);
    this.parts.scheduler.fireIfDue();
    this.parts.transactions.fireIfDue();
  }

  // ------------------------------------------------------------------ DLQ

  listDeadLetters(query: DeadLetterQuery = {}): DeadLetterPage {
    this.ensureOpen('list dead letters');
    return this.parts.deadLetters.list(query);
  }

  getDeadLetter(id: number): DeadLetter | undefined {
    this.ensureOpen('read a dead letter');
    return this.parts.deadLetters.get(id);
  }

  /**
   * Sends dead letters back through their group's retry topic (so only that group
   * handles them again), optionally with an edited body or headers. Resolves with the
   * ids resent; all of them or none are written.
   */
  async resendDeadLetters(ids: readonly number[], edit: ResendEdit = {}): Promise<number[]> {
    this.ensureOpen('resend dead letters');
    return this.parts.deadLetters.resend(ids, edit);
  }

  /** Marks dead letters as discarded with a reason; they stay listed for audit. */
  async discardDeadLetters(ids: readonly number[], reason: string): Promise<number[]> {
    this.ensureOpen('discard dead letters');
    return this.parts.deadLetters.discard(ids, reason);
  }

  // ------------------------------------------------- transactional messages

  /**
   * Stores a half message: durable when this resolves (as a publish confirm), invisible to consumers until
   * `commitHalf`. Checked like `publish` (same limits and errors). Re-sending a message id already held returns the
   * first result with `duplicate: true`.
   */
  async sendHalf(message: PublishMessage, options: HalfSendOptions): Promise<HalfSendResult> {
    this.ensureOpen('send a half message');
    return this.parts.transactions.sendHalf(message, options);
  }

  /**
   * Makes a half message visible, enqueued now. Idempotent: committing a committed one changes nothing
   * (`alreadyResolved`). Rejects with TransactionStateError after a rollback. A discarded one may still be committed.
   * Rejects with TransactionNotFoundError once the record was pruned (`halfMessageRetentionMs` after resolution).
   */
  async commitHalf(txId: string): Promise<HalfResolution> {
    this.ensureOpen('commit a half message');
    return this.parts.transactions.commit(txId);
  }

  /**
   * Never delivers the half message; its record stays for audit until `halfMessageRetentionMs` has passed. Idempotent;
   * rejects after a commit, and with TransactionNotFoundError once the record was pruned.
   */
  async rollbackHalf(txId: string, reason?: string): Promise<HalfResolution> {
    this.ensureOpen('roll back a half message');
    return this.parts.transactions.rollback(txId, reason ?? null);
  }

  /**
   * Registers one live instance of a producer group's checker and returns the function that unregisters it. With
   * several instances, checks go round-robin over them. A checker that throws, or answers anything but
   * `commit` / `rollback`, counts as `unknown`.
   */
  registerTransactionChecker(producerGroup: string, checker: HalfMessageChecker): () => void {
    this.ensureOpen('register a transaction checker');
    return this.parts.transactions.register(producerGroup, checker);
  }

  /** Half messages by state (default `discarded`: the ones that ran out of checks). */
  listHalfMessages(query: HalfMessageQuery = {}): HalfMessagePage {
    this.ensureOpen('list half messages');
    return this.parts.transactions.list(query);
  }

  getHalfMessage(txId: string): HalfMessage | undefined {
    this.ensureOpen('read a half message');
    return this.parts.transactions.get(txId);
  }

  /** Commits discarded half messages by hand; all of them or none. */
  async commitDiscardedHalves(txIds: readonly string[]): Promise<string[]> {
    this.ensureOpen('commit discarded half messages');
    return this.parts.transactions.commitDiscarded(txIds);
  }

  /** Discards (never delivers) discarded half messages by hand, with a reason kept for audit; all of them or none. */
  async discardDiscardedHalves(txIds: readonly string[], reason: string): Promise<string[]> {
    this.ensureOpen('discard half messages');
    return this.parts.transactions.discardDiscarded(txIds, reason);
  }

  // ------------------------------------------------------- backlog & stats

  /** Raises a topic's queue count online; members rebalance onto the new queues. Keys may map to new queues afterwards. */
  expandQueues(topic: string, queueCount: number): TopicInfo {
    this.ensureOpen('expand queues');
    return this.parts.backlogs.expandQueues(topic, queueCount);
  }

  /**
   * Moves a clustering group's not-yet-delivered backlog on `fromTopic` onto more queues, in the order it was stored,
   * so each key keeps its order. By default onto the group's own backlog topic (`%BACKLOG%<group>`, with
   * `queueCount` queues, default `fromTopic`'s count), which the group's members read with their subscriptions of
   * `fromTopic`; an orderly group handles the moved backlog before what is still on `fromTopic`. With `toTopic`
   * (or the older positional form), onto that topic instead, which the group must then subscribe.
   */
  async redistributeBacklog(
    group: string,
    fromTopic: string,
    target: string | RedistributeOptions = {},
    options: { onProgress?: (moved: number) => void } = {},
  ): Promise<{ moved: number; toTopic: string }> {
    this.ensureOpen('redistribute a backlog');
    const resolved = typeof target === 'string' ? { ...options, toTopic: target } : target;
    return this.parts.backlogs.redistribute(group, fromTopic, resolved, resolved.onProgress);
  }

  /** Per group and topic: lag in messages and in time, rates, members connected and the drain estimate; largest lag first. */
  backlog(): BacklogReport {
    this.ensureOpen('read the backlog');
    return backlogReport(
      this.collectStats(),
      (group, topic) => this.parts.groups.activeMembers(group, topic),
      this.now(),
    );
  }

  /** What `resetOffsets(group, topic, timestamp)` would skip or deliver again, read without changing anything. */
  previewOffsetReset(group: string, topic: string, timestamp: number): OffsetResetPlan {
    this.ensureOpen('preview an offset reset');
    return this.parts.backlogs.previewReset(group, topic, timestamp);
  }

  /**
   * Moves a clustering group's offsets on `topic` to the first message stored at or after `timestamp`: forward skips
   * what was stored before it, backward delivers again what was stored since. Resolves with what was done.
   */
  async resetOffsets(group: string, topic: string, timestamp: number): Promise<OffsetResetPlan> {
    this.ensureOpen('reset offsets');
    return this.parts.backlogs.reset(group, topic, timestamp);
  }

  stats(): EngineStats {
    this.ensureOpen('read stats');
    return {
      ...this.collectStats(),
      transactions: this.parts.transactions.stats(),
      commitLatency: this.parts.committer.latency.snapshot(),
    };
  }

  private collectStats(): Omit<EngineStats, 'transactions' | 'commitLatency'> {
    return collectStats({
      db: this.db,
      topics: this.parts.topics.list(),
      heads: this.parts.heads,
      groups: [...this.parts.groups.all()],
      deadLetters: this.parts.deadLetterStore,
      now: this.now(),
      publishRate: (topic) => this.parts.rates.publishRate(topic, this.now()),
      deliveryRate: (group, topic) => this.parts.rates.deliveryRate(group, topic, this.now()),
    });
  }

  /**
   * One retention pass now: consumed messages older than `retentionMs`, then records of half messages resolved longer
   * than `halfMessageRetentionMs` ago. Resolves with the number of deleted messages.
   */
  runRetention(): Promise<number> {
    this.ensureOpen('run retention');
    return this.parts.retention.sweep();
  }

  // ---------------------------------------------------------------- close

  /** Stops taking messages, waits (bounded) for in-flight handlers, flushes offsets and closes the database. */
  async close(timeoutMs = 30_000): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closing';
    const removals: Promise<void>[] = [];
    for (const group of this.parts.groups.all()) {
      for (const member of group.members.values()) removals.push(group.removeMember(member, timeoutMs));
    }
    await Promise.all(removals);
    for (const timer of this.timers) clearInterval(timer);
    this.parts.scheduler.stop();
    this.parts.transactions.stop();
    for (const group of this.parts.groups.all()) group.stop();
    do {
      while (this.parts.committer.queued > 0 || this.parts.offsets.pending > 0) {
        this.parts.committer.flush();
        if (this.parts.committer.queued === 0 && this.parts.offsets.pending > 0) {
          // Offsets with no operation queued: commit them on their own.
          this.parts.commitQueueState();
        }
      }
      // A committed retry or DLQ copy acks its original in a callback; let those run and flush the offsets they move,
      // or the original would be delivered again after a reopen next to its copy.
      await new Promise<void>((resolve) => setImmediate(resolve));
    } while (this.parts.committer.queued > 0 || this.parts.offsets.pending > 0);
    // Offsets acked above a handler that never finished: after a reopen only the unacked come back.
    this.db
      .transaction(() => {
        for (const group of this.parts.groups.all()) group.saveAcked();
      })
      .immediate();
    this.parts.committer.stop();
    this.state = 'closed';
    this.db.close();
    this.parts.lock.release();
  }
}

export { ReliableMqError };
