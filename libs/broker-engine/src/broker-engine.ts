import type BetterSqlite3 from 'better-sqlite3';
import { loadOptionalDependency } from './util/optional-dependency';
import { join } from 'node:path';
import { ConsumerGroup } from './consume/consumer-group';
import { originTopicOf } from './consume/delivery-mapper';
import type { GroupContext } from './consume/group-context';
import { MemberRuntime } from './consume/member-runtime';
import { PAUSE_HEARTBEAT, type HeartbeatPausable } from './consume/heartbeat-pause';
import { resolveSubscription } from './consume/subscription-options';
import { DelayScheduler } from './delay/delay-scheduler';
import { DeadLetterStore } from './dlq/dead-letter-store';
import { resolveEngineOptions, type ResolvedEngineOptions } from './engine-options';
import type {
  DeadLetter,
  DeadLetterPage,
  DeadLetterQuery,
  EngineOptions,
  EngineStats,
  GroupMode,
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
import { DeadLetterNotFoundError, EngineClosedError, InvalidArgumentError, ReliableMqError } from './errors';
import {
  HEADER_LAST_ERROR,
  HEADER_ORIGIN_TOPIC,
  HEADER_ORIGINAL_ID,
  HEADER_RECONSUME_TIMES,
  HEADER_RESENT_FROM,
} from './headers';
import { GroupCommitter } from './publish/group-committer';
import { prepareBatch } from './publish/message-preparer';
import { QueueOffsetTable } from './publish/queue-offset-table';
import { RetentionSweeper } from './retention/retention-sweeper';
import { collectStats } from './stats/collect-stats';
import { RateMeters } from './stats/rate-meters';
import { DiskGuard } from './storage/disk-guard';
import { TopicAdmission } from './topics/topic-admission';
import { decodeHeaders, encodeHeaders, newMessageOf, type NewMessage } from './storage/message-row';
import { MessageStore } from './storage/message-store';
import { assertSchemaSupported, migrate } from './storage/schema';
import { TopicRegistry } from './topics/topic-registry';
import { TransactionCoordinator } from './transactions/transaction-coordinator';
import { dlqTopicOf, retryTopicOf, validateName } from './util/names';
import { stableHash } from './util/stable-hash';
import { ownerOnlyDatabaseFile, ownerOnlyDirectory } from './util/owner-only-files';
import { uuidv7 } from './util/uuid-v7';
import { moveBacklog } from './backlog/move-backlog';
import { backlogReport, type BacklogReport } from './backlog/backlog-report';
import type { OffsetResetPlan } from './backlog/offset-reset-plan';
import { planOffsetReset, requireSubscription, resetOffsets } from './backlog/reset-offsets';

export const DATABASE_FILE = 'broker.sqlite';
const OFFSET_FLUSH_DELAY_MS = 5;

interface DirtyOffset {
  group: string;
  owner: string;
  topic: string;
  queueId: number;
  committed: number;
}

/**
 * The included broker: topics of queues on one SQLite database (WAL), publish with
 * durable confirms, consumer groups with push delivery, retry levels, DLQ, delay, TTL
 * and retention. Single process: the engine owns its data directory while open.
 */
export class BrokerEngine {
  readonly options: ResolvedEngineOptions;
  private readonly db: BetterSqlite3.Database;
  private readonly store: MessageStore;
  private readonly deadLetters: DeadLetterStore;
  private readonly topics: TopicRegistry;
  private readonly heads = new QueueOffsetTable();
  private readonly committer: GroupCommitter;
  private readonly scheduler: DelayScheduler;
  private readonly retention: RetentionSweeper;
  private readonly transactions: TransactionCoordinator;
  private readonly groups = new Map<string, ConsumerGroup>();
  private readonly groupContext: GroupContext;
  private readonly roundRobin = new Map<string, number>();
  private dirty = new Map<string, DirtyOffset>();
  private flushingDirty: Map<string, DirtyOffset> | null = null;
  private touchedTopics = new Set<string>();
  private earliestScheduled = Number.POSITIVE_INFINITY;
  private readonly rates = new RateMeters();
  private readonly diskGuard: DiskGuard;
  private readonly admission: TopicAdmission;
  private readonly timers: NodeJS.Timeout[] = [];
  private state: 'open' | 'closing' | 'closed' = 'open';

  private constructor(options: ResolvedEngineOptions) {
    this.options = options;
    ownerOnlyDirectory(options.dataDir);
    const path = join(options.dataDir, DATABASE_FILE);
    ownerOnlyDatabaseFile(path);
    const Database = loadOptionalDependency<typeof BetterSqlite3>('better-sqlite3', 'The embedded broker engine', () =>
      require('better-sqlite3'),
    );
    this.db = new Database(path);
    try {
      assertSchemaSupported(this.db, path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${options.flush === 'sync' ? 'FULL' : 'NORMAL'}`);
      this.db.pragma('foreign_keys = OFF');
      migrate(this.db, path);
      if (options.maxDatabaseBytes !== null) {
        const pageSize = this.db.pragma('page_size', { simple: true }) as number;
        this.db.pragma(`max_page_count = ${Math.max(1, Math.floor(options.maxDatabaseBytes / pageSize))}`);
      }
    } catch (error) {
      this.db.close();
      throw error;
    }
    this.store = new MessageStore(this.db);
    this.deadLetters = new DeadLetterStore(this.db);
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
    this.groupContext = this.createGroupContext();
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
      storeForDelivery: (message, deliverAt, now) => this.store1(message, deliverAt, now),
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
      () => prepared.map(({ message, deliverAt, generatedId }) => this.store1(message, deliverAt, now, !generatedId)),
      { publish: true },
    );
    for (const result of results) if (!result.duplicate) this.rates.markPublished(result.topic, now);
    return results;
  }

  /** `checkDuplicate: false` only for ids the engine generated in this call, which nothing can hold yet. */
  private store1(message: NewMessage, deliverAt: number | null, now: number, checkDuplicate = true): PublishResult {
    const existing = checkDuplicate ? this.store.findById(message.messageId) : undefined;
    if (existing) {
      return {
        messageId: message.messageId,
        topic: existing.topic,
        queueId: existing.queue_id,
        queueOffset: existing.queue_offset,
        ...(existing.deliver_at !== null ? { deliverAt: existing.deliver_at } : {}),
        duplicate: true,
      };
    }
    const queueId = this.selectQueue(message.topic, message.key);
    if (deliverAt !== null) {
      this.store.insertScheduled(message, queueId, deliverAt, now);
      this.earliestScheduled = Math.min(this.earliestScheduled, deliverAt);
      return {
        messageId: message.messageId,
        topic: message.topic,
        queueId,
        queueOffset: -1,
        deliverAt,
        duplicate: false,
      };
    }
    const queueOffset = this.heads.reserve(message.topic, queueId);
    this.store.insertMessage(message, queueId, queueOffset, now);
    this.touchedTopics.add(message.topic);
    return { messageId: message.messageId, topic: message.topic, queueId, queueOffset, duplicate: false };
  }

  /** Same key, same queue (stable hash); no key, round-robin. */
  private selectQueue(topic: string, key: string | null): number {
    const count = this.topics.require(topic).queueCount;
    if (key !== null) return stableHash(key) % count;
    const next = (this.roundRobin.get(topic) ?? -1) + 1;
    this.roundRobin.set(topic, next % count);
    return next % count;
  }

  // ----------------------------------------------------- commit bookkeeping

  private writeQueueState(): void {
    for (const { topic, queueId, next } of this.heads.pending()) this.store.saveQueueNext(topic, queueId, next);
    this.flushingDirty = this.dirty;
    this.dirty = new Map();
    const now = this.now();
    for (const offset of this.flushingDirty.values()) {
      this.store.saveOffset(offset.group, offset.owner, offset.topic, offset.queueId, offset.committed, now);
    }
  }

  private afterCommit(): void {
    this.heads.commit();
    this.flushingDirty = null;
    const touched = this.touchedTopics;
    this.touchedTopics = new Set();
    if (touched.size > 0) this.wake(touched);
    if (this.earliestScheduled !== Number.POSITIVE_INFINITY) {
      this.scheduler.note(this.earliestScheduled);
      this.earliestScheduled = Number.POSITIVE_INFINITY;
    }
  }

  private afterRollback(): void {
    this.heads.rollback();
    this.touchedTopics = new Set();
    this.earliestScheduled = Number.POSITIVE_INFINITY;
    if (this.flushingDirty) {
      for (const [id, offset] of this.flushingDirty) {
        const newer = this.dirty.get(id);
        if (!newer || newer.committed < offset.committed) this.dirty.set(id, offset);
      }
      this.flushingDirty = null;
    }
  }

  private wake(topics: Set<string>): void {
    for (const group of this.groups.values()) {
      for (const member of group.members.values()) {
        if ([...topics].some((topic) => member.subscriptions.has(topic) || topic === group.retryTopic)) {
          group.schedulePump();
          break;
        }
      }
    }
  }

  private markOffsetDirty(group: string, owner: string, topic: string, queueId: number, committed: number): void {
    const id = `${group}\u0000${owner}\u0000${topic}\u0000${queueId}`;
    const current = this.dirty.get(id);
    if (!current || current.committed < committed) this.dirty.set(id, { group, owner, topic, queueId, committed });
    if (this.state !== 'closed') this.committer.requestFlush(OFFSET_FLUSH_DELAY_MS);
  }

  // ------------------------------------------------------- delay and retry

  private async moveDueMessages(): Promise<{ moved: number; more: boolean }> {
    const batch = 500;
    const moved = await this.committer.submit(
      () => {
        const now = this.now();
        const rows = this.store.dueScheduled(now, batch);
        for (const row of rows) {
          const queueId = Math.min(row.queue_id, Math.max(0, this.topics.queueCount(row.topic) - 1));
          const offset = this.heads.reserve(row.topic, queueId);
          this.store.insertMessage(newMessageOf(row, row.born_at, row.expire_at), queueId, offset, now);
          this.store.deleteScheduled(row.seq);
          this.touchedTopics.add(row.topic);
        }
        return rows.length;
      },
      { publish: false },
    );
    return { moved, more: moved === batch };
  }

  /** Writes a copy of a message into a group's retry topic; visible after `delayMs`. */
  private writeRetryCopy(group: string, source: NewMessage, headers: Record<string, string>, delayMs: number): void {
    const topic = retryTopicOf(group);
    const now = this.now();
    const message: NewMessage = { ...source, messageId: uuidv7(now), topic, headers: encodeHeaders(headers) };
    const queueId = this.selectQueue(topic, message.key);
    if (delayMs > 0) {
      this.store.insertScheduled(message, queueId, now + delayMs, now);
      this.earliestScheduled = Math.min(this.earliestScheduled, now + delayMs);
    } else {
      this.store.insertMessage(message, queueId, this.heads.reserve(topic, queueId), now);
      this.touchedTopics.add(topic);
    }
  }

  private createGroupContext(): GroupContext {
    return {
      store: this.store,
      clock: this.options.clock,
      queueHeads: this.heads,
      consumeTimeoutMs: this.options.consumeTimeoutMs,
      sessionTimeoutMs: this.options.sessionTimeoutMs,
      fetchBatch: 64,
      queueCount: (topic) => this.topics.queueCount(topic),
      markOffsetDirty: (group, owner, topic, queueId, committed) =>
        this.markOffsetDirty(group, owner, topic, queueId, committed),
      sendToRetry: (group, row, reconsumeTimes, error, delayMs) =>
        this.committer.submit(
          () => {
            const headers = decodeHeaders(row.headers);
            this.writeRetryCopy(
              group,
              newMessageOf(row, row.born_at, row.expire_at),
              {
                ...headers,
                [HEADER_ORIGIN_TOPIC]: originTopicOf(row),
                [HEADER_ORIGINAL_ID]: headers[HEADER_ORIGINAL_ID] ?? row.message_id,
                [HEADER_RECONSUME_TIMES]: String(reconsumeTimes),
                [HEADER_LAST_ERROR]: error,
              },
              delayMs,
            );
          },
          { publish: false },
        ),
      sendToDlq: (group, row, reason, reconsumeTimes) =>
        this.committer.submit(
          () => {
            const headers = decodeHeaders(row.headers);
            this.deadLetters.insert({
              dlqTopic: dlqTopicOf(group),
              group,
              topic: originTopicOf(row),
              messageId: row.message_id,
              originalMessageId: headers[HEADER_ORIGINAL_ID] ?? row.message_id,
              key: row.key,
              tags: row.tags,
              headers: row.headers,
              body: row.body,
              reason,
              reconsumeTimes,
              bornAt: row.born_at,
              deadAt: this.now(),
            });
          },
          { publish: false },
        ),
      reportError: (error) => this.options.onError(error),
      onDelivered: (group, topic) => this.rates.markDelivered(group, topic, this.now()),
    };
  }

  // -------------------------------------------------------------- consume

  /** Joins a member to a consumer group on a topic and starts pushing messages to its handler. */
  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    this.ensureOpen('subscribe');
    const resolved = resolveSubscription(options, this.options.delayLevels);
    const { group: groupName, topic, groupMode } = resolved;
    this.admission.admit(topic, 'subscribe');
    const storedMode = this.db
      .prepare('SELECT group_mode FROM subscriptions WHERE group_name = ? LIMIT 1')
      .get(groupName) as { group_mode: GroupMode } | undefined;
    const knownMode = this.groups.get(groupName)?.mode ?? storedMode?.group_mode;
    if (knownMode !== undefined && knownMode !== groupMode) {
      throw new InvalidArgumentError(
        `Group "${groupName}" is a ${knownMode} group; it cannot also subscribe as ${groupMode}. Use another group name.`,
      );
    }
    let group = this.groups.get(groupName);
    if (!group) {
      group = new ConsumerGroup(groupName, groupMode, this.groupContext);
      this.groups.set(groupName, group);
    }
    for (const other of group.members.values()) {
      const sub = other.subscriptions.get(topic);
      if (sub && sub.mode !== resolved.mode) {
        throw new InvalidArgumentError(
          `Group "${groupName}" already consumes "${topic}" in ${sub.mode} mode; all members must use the same mode.`,
        );
      }
    }
    const existing = group.members.get(resolved.memberId);
    if (existing?.subscriptions.has(topic)) {
      throw new InvalidArgumentError(
        `Member "${resolved.memberId}" of group "${groupName}" already subscribes to "${topic}"; close that subscription first.`,
      );
    }
    const topicsToRecord = [topic];
    if (groupMode === 'clustering') {
      this.admission.ensureSystem(retryTopicOf(groupName));
      topicsToRecord.push(retryTopicOf(groupName));
    }
    const now = this.now();
    await this.committer.submit(
      () => {
        const insert = this.db.prepare(
          'INSERT OR IGNORE INTO subscriptions (group_name, topic, group_mode, created_at) VALUES (?, ?, ?, ?)',
        );
        for (const name of topicsToRecord) insert.run(groupName, name, groupMode, now);
      },
      { publish: false },
    );
    this.ensureOpen('subscribe');
    // Re-read after the await: a concurrent subscribe of the same member may have created it meanwhile.
    const current = group.members.get(resolved.memberId);
    if (current?.subscriptions.has(topic)) {
      throw new InvalidArgumentError(
        `Member "${resolved.memberId}" of group "${groupName}" already subscribes to "${topic}"; close that subscription first.`,
      );
    }
    const member = current ?? new MemberRuntime(resolved.memberId, resolved.prefetch, resolved.autoHeartbeat, now);
    // One member serving several topics keeps the largest prefetch any of its subscriptions asked for.
    member.prefetch = Math.max(member.prefetch, resolved.prefetch);
    group.addSubscription(
      member,
      {
        topic,
        mode: resolved.mode,
        tagFilter: resolved.tagFilter,
        retry: resolved.retry,
        handler: options.handler,
      },
      resolved.startFrom,
    );
    const owningGroup = group;
    const subscription: Subscription & HeartbeatPausable = {
      group: groupName,
      topic,
      memberId: member.id,
      assignedQueues: () => owningGroup.ownedBy(member).map((queue) => `${queue.topic}:${queue.queueId}`),
      close: async (timeoutMs = 30_000) => {
        member.subscriptions.delete(topic);
        if (member.subscriptions.size === 0) await owningGroup.removeMember(member, timeoutMs);
        else owningGroup.rebalance();
        this.committer.requestFlush(0);
      },
      [PAUSE_HEARTBEAT]: (paused: boolean) => {
        member.heartbeatPaused = paused;
      },
    };
    return subscription;
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
    for (const group of this.groups.values()) group.maintain(now);
    this.scheduler.fireIfDue();
    this.transactions.fireIfDue();
  }

  // ------------------------------------------------------------------ DLQ

  listDeadLetters(query: DeadLetterQuery = {}): DeadLetterPage {
    this.ensureOpen('list dead letters');
    return this.deadLetters.query(query);
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
    const letters = this.requireDead(ids);
    const editedBody =
      edit.body === undefined
        ? undefined
        : prepareBatch([{ topic: 'edit', body: edit.body }], this.options, 0)[0]!.message.body;
    if (edit.headers !== undefined) {
      if (
        typeof edit.headers !== 'object' ||
        edit.headers === null ||
        Object.values(edit.headers).some((v) => typeof v !== 'string')
      ) {
        throw new InvalidArgumentError('Edited headers must be an object of string values.');
      }
    }
    for (const letter of letters) this.admission.ensureSystem(retryTopicOf(letter.group));
    return this.committer.submit(
      () => {
        const now = this.now();
        for (const letter of letters) {
          if (!this.deadLetters.setStatus(letter.id, 'resent', null, now))
            throw new DeadLetterNotFoundError(letter.id, 'dead');
          this.writeRetryCopy(
            letter.group,
            {
              messageId: letter.messageId,
              topic: letter.topic,
              key: letter.key,
              tags: letter.tags.length === 0 ? null : JSON.stringify(letter.tags),
              headers: null,
              body: editedBody ?? letter.body,
              bornAt: letter.bornAt,
              expireAt: null,
            },
            {
              ...(edit.headers ?? letter.headers),
              [HEADER_ORIGIN_TOPIC]: letter.topic,
              [HEADER_ORIGINAL_ID]: letter.originalMessageId,
              [HEADER_RECONSUME_TIMES]: '0',
              [HEADER_RESENT_FROM]: String(letter.id),
            },
            0,
          );
        }
        return letters.map((letter) => letter.id);
      },
      { publish: true },
    );
  }

  /** Marks dead letters as discarded with a reason; they stay listed for audit. */
  async discardDeadLetters(ids: readonly number[], reason: string): Promise<number[]> {
    this.ensureOpen('discard dead letters');
    if (typeof reason !== 'string' || reason.trim() === '') {
      throw new InvalidArgumentError('Discarding dead letters needs a non-empty reason.');
    }
    const letters = this.requireDead(ids);
    return this.committer.submit(
      () => {
        const now = this.now();
        for (const letter of letters) {
          if (!this.deadLetters.setStatus(letter.id, 'discarded', reason, now))
            throw new DeadLetterNotFoundError(letter.id, 'dead');
        }
        return letters.map((letter) => letter.id);
      },
      { publish: false },
    );
  }

  private requireDead(ids: readonly number[]): DeadLetter[] {
    if (!Array.isArray(ids) || ids.length === 0 || ids.some((id) => !Number.isInteger(id))) {
      throw new InvalidArgumentError('Pass a non-empty array of dead-letter ids (integers).');
    }
    if (ids.length > this.options.maxBatchSize) {
      throw new InvalidArgumentError(`At most ${this.options.maxBatchSize} dead letters per call (maxBatchSize).`);
    }
    return ids.map((id) => {
      const letter = this.deadLetters.get(id);
      if (!letter || letter.status !== 'dead') throw new DeadLetterNotFoundError(id, 'dead');
      return letter;
    });
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
    for (const group of this.groups.values()) group.rebalance();
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
    const runtime = this.clusteringGroup(group, 'backlogs are moved');
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
      recordTarget: () =>
        this.db
          .prepare(
            'INSERT OR IGNORE INTO subscriptions (group_name, topic, group_mode, created_at) VALUES (?, ?, ?, ?)',
          )
          .run(group, toTopic, 'clustering', this.now()),
      writeCopy: (row) => {
        const now = this.now();
        const headers = decodeHeaders(row.headers);
        this.store1(
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
    const members = (group: string, topic: string): number =>
      [...(this.groups.get(group)?.members.values() ?? [])].filter(
        (member) => member.active && member.subscriptions.has(topic),
      ).length;
    return backlogReport(this.collectStats(), members, this.now());
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
      group: this.clusteringGroup(group, 'offsets are reset'),
      topic,
      queueCount: this.topics.queueCount(topic),
      timestamp,
      headOf: (queueId: number) => this.heads.peek(topic, queueId),
      // Offsets waiting for their flush only ever move forward (stored as the larger value): drop them, or one
      // flushed after the reset would undo a move back.
      dropPendingOffsets: () => {
        for (const [id, offset] of this.dirty) {
          if (offset.group === group && offset.owner === '' && offset.topic === topic) this.dirty.delete(id);
        }
      },
    };
  }

  private clusteringGroup(group: string, what: string): ConsumerGroup {
    let runtime = this.groups.get(group);
    if (runtime?.mode === 'broadcasting') {
      throw new InvalidArgumentError(`Group "${group}" is broadcasting; ${what} for clustering groups only.`);
    }
    if (!runtime) {
      runtime = new ConsumerGroup(group, 'clustering', this.groupContext);
      this.groups.set(group, runtime);
    }
    return runtime;
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
      groups: [...this.groups.values()],
      deadLetters: this.deadLetters,
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
    for (const group of this.groups.values()) {
      for (const member of group.members.values()) removals.push(group.removeMember(member, timeoutMs));
    }
    await Promise.all(removals);
    for (const timer of this.timers) clearInterval(timer);
    this.scheduler.stop();
    this.transactions.stop();
    for (const group of this.groups.values()) group.stop();
    do {
      while (this.committer.queued > 0 || this.dirty.size > 0) {
        this.committer.flush();
        if (this.committer.queued === 0 && this.dirty.size > 0) {
          // Offsets with no operation queued: commit them on their own.
          this.db.transaction(() => this.writeQueueState()).immediate();
          this.afterCommit();
        }
      }
      // A committed retry or DLQ copy acks its original in a callback; let those run and flush the offsets they move,
      // or the original would be delivered again after a reopen next to its copy.
      await new Promise<void>((resolve) => setImmediate(resolve));
    } while (this.committer.queued > 0 || this.dirty.size > 0);
    // Offsets acked above a handler that never finished: after a reopen only the unacked come back.
    this.db
      .transaction(() => {
        for (const group of this.groups.values()) group.saveAcked();
      })
      .immediate();
    this.committer.stop();
    this.state = 'closed';
    this.db.close();
  }
}

export { ReliableMqError };
