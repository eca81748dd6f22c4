import type BetterSqlite3 from 'better-sqlite3';
import { BacklogOperations } from './backlog/backlog-operations';
import { ConsumerGroups } from './consume/consumer-groups';
import { FailureRouter } from './consume/failure-router';
import { OffsetJournal } from './consume/offset-journal';
import { DelayScheduler } from './delay/delay-scheduler';
import { DeadLetterOperations } from './dlq/dead-letter-operations';
import { DeadLetterStore } from './dlq/dead-letter-store';
import type { ResolvedEngineOptions } from './engine-options';
import { GroupCommitter } from './publish/group-committer';
import { QueueOffsetTable } from './publish/queue-offset-table';
import { QueueWriter } from './publish/queue-writer';
import { RetentionSweeper } from './retention/retention-sweeper';
import { RateMeters } from './stats/rate-meters';
import { DiskGuard } from './storage/disk-guard';
import { MessageStore } from './storage/message-store';
import type { DirectoryLock } from './storage/directory-lock';
import { openDatabase } from './storage/open-database';
import { TopicAdmission } from './topics/topic-admission';
import { TopicRegistry } from './topics/topic-registry';
import { TransactionCoordinator } from './transactions/transaction-coordinator';

/** Scheduled messages moved into their queues per commit when they fall due. */
const DUE_MESSAGES_PER_COMMIT = 500;
/** Messages a consumer group reads from storage at once per queue. */
const FETCH_BATCH = 64;

/** The parts of an open engine, all on one database and one group commit. */
export interface EngineParts {
  db: BetterSqlite3.Database;
  /** Held from open to close: no other engine opens this data directory meanwhile. */
  lock: DirectoryLock;
  store: MessageStore;
  topics: TopicRegistry;
  admission: TopicAdmission;
  heads: QueueOffsetTable;
  writer: QueueWriter;
  committer: GroupCommitter;
  offsets: OffsetJournal;
  groups: ConsumerGroups;
  deadLetterStore: DeadLetterStore;
  deadLetters: DeadLetterOperations;
  backlogs: BacklogOperations;
  scheduler: DelayScheduler;
  retention: RetentionSweeper;
  transactions: TransactionCoordinator;
  rates: RateMeters;
  /** Commits the queue heads and moved offsets with no operation queued (at close). */
  commitQueueState(): void;
}

/** What the parts need to know of the engine's own state. */
export interface EngineLifecycle {
  isClosed(): boolean;
  /** Throws EngineClosedError naming `operation` once the engine is closing. */
  ensureOpen(operation: string): void;
}

/**
 * Opens the database and builds the engine's parts on it. Every write goes through the one group commit; inside each
 * commit, after its operations, the queues' next offsets and the consumer offsets that moved are written; after it,
 * the groups reading the topics it made messages visible on are woken and the delay scheduler learns the earliest
 * wait; a rollback gives the reserved queue offsets back and keeps the consumer offsets for the next commit.
 */
export function assembleEngineParts(options: ResolvedEngineOptions, lifecycle: EngineLifecycle): EngineParts {
  const now = (): number => options.clock.now();
  const { db, lock } = openDatabase(options);
  const store = new MessageStore(db);
  const topics = new TopicRegistry(db);
  const admission = new TopicAdmission(db, topics, options, now);
  const diskGuard = new DiskGuard(options);
  const heads = new QueueOffsetTable();
  for (const row of store.queueHeads()) heads.load(row.topic, row.queue_id, row.next_offset);
  const writer = new QueueWriter(store, topics, heads);
  const rates = new RateMeters();
  const writeQueueState = (): void => {
    writer.writeHeads();
    offsets.write(now());
  };
  const afterCommit = (): void => {
    offsets.committed();
    const { touchedTopics, earliestScheduled } = writer.committed();
    if (touchedTopics.size > 0) groups.wake(touchedTopics);
    if (earliestScheduled !== Number.POSITIVE_INFINITY) scheduler.note(earliestScheduled);
  };
  const committer = new GroupCommitter(
    db,
    {
      beforeCommit: writeQueueState,
      afterCommit,
      afterRollback: () => {
        writer.rolledBack();
        offsets.rolledBack();
      },
      publishGuard: () => diskGuard.check(),
      mapError: (error) => (error instanceof Error ? error : new Error(String(error))),
    },
    options.maxDatabaseBytes,
  );
  const submitQuiet = <T>(apply: () => T): Promise<T> => committer.submit(apply, { publish: false });
  const submit = <T>(apply: () => T, submitOptions: { publish: boolean }): Promise<T> =>
    committer.submit(apply, submitOptions);
  const offsets = new OffsetJournal(store, (delayMs) => {
    if (!lifecycle.isClosed()) committer.requestFlush(delayMs);
  });
  const deadLetterStore = new DeadLetterStore(db);
  const failures = new FailureRouter({ writer, deadLetters: deadLetterStore, submit: submitQuiet, now });
  const deadLetters = new DeadLetterOperations({
    deadLetters: deadLetterStore,
    failures,
    limits: options,
    ensureRetryTopic: (topic) => admission.ensureSystem(topic),
    submit,
    now,
  });
  const groups = new ConsumerGroups({
    db,
    context: {
      store,
      clock: options.clock,
      queueHeads: heads,
      consumeTimeoutMs: options.consumeTimeoutMs,
      sessionTimeoutMs: options.sessionTimeoutMs,
      fetchBatch: FETCH_BATCH,
      queueCount: (topic) => topics.queueCount(topic),
      markOffsetDirty: (group, owner, topic, queueId, committed) =>
        offsets.mark(group, owner, topic, queueId, committed),
      failures,
      reportError: (error) => options.onError(error),
      onDelivered: (group, topic) => rates.markDelivered(group, topic, now()),
    },
    admission,
    submit: submitQuiet,
    requestFlush: (delayMs) => committer.requestFlush(delayMs),
    ensureOpen: (operation) => lifecycle.ensureOpen(operation),
    now,
  });
  const backlogs = new BacklogOperations({ db, store, topics, heads, writer, offsets, groups, submit, now });
  const scheduler = new DelayScheduler(
    () => store.nextDueAt(),
    now,
    async () => {
      const moved = await submitQuiet(() => writer.moveDue(now(), DUE_MESSAGES_PER_COMMIT));
      return { moved, more: moved === DUE_MESSAGES_PER_COMMIT };
    },
    options.onError,
  );
  const retention = new RetentionSweeper(db, () => topics.list(), submitQuiet, {
    retentionMs: options.retentionMs,
    chunkSize: options.retentionChunkSize,
    now,
    pruneHalfMessages: () => transactions.pruneResolved(),
  });
  const transactions = new TransactionCoordinator({
    db,
    options,
    now,
    submit: (apply, publish) => committer.submit(apply, { publish }),
    admitTopic: (topic) => admission.admit(topic, 'send'),
    storeForDelivery: (message, deliverAt, at) => writer.write(message, deliverAt, at),
    isPublished: (messageId) => store.findById(messageId) !== undefined,
  });
  return {
    db,
    lock,
    store,
    topics,
    admission,
    heads,
    writer,
    committer,
    offsets,
    groups,
    deadLetterStore,
    deadLetters,
    backlogs,
    scheduler,
    retention,
    transactions,
    rates,
    commitQueueState: () => {
      db.transaction(writeQueueState).immediate();
      afterCommit();
    },
  };
}
