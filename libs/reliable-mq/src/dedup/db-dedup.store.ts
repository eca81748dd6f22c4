import type { DataSource, EntityManager } from 'typeorm';
import { DedupBusyError } from '../errors/dedup-busy.error';
import { DedupUnavailableError } from '../errors/dedup-unavailable.error';
import { databaseErrorKind } from './database-error-kind';
import { DbDedupBatcher, inboxInsertTarget, type DbDedupBatchOptions } from './db-dedup-batcher';
import { DedupCounterSet } from './dedup-counter-set';
import type { DedupCounters, DedupOutcome, DedupStore } from './dedup-store.interface';
import type { DedupLogger } from './dedup-logger.interface';
import { toInboxKey } from './inbox-key';
import { INBOX_PRUNE_CHUNK, InboxPruner } from './inbox-pruner';
import { SerialLock, singleConnectionLockFor } from './serial-lock';

/**
 * TypeORM drivers that share one connection between all query runners. Two transactions started on it at the same
 * time would nest as savepoints of one another, so one handler's rollback could undo another's commit.
 */
const SINGLE_CONNECTION_DRIVERS: ReadonlySet<string> = new Set([
  'sqlite',
  'better-sqlite3',
  'sqljs',
  'capacitor',
  'cordova',
  'expo',
  'nativescript',
  'react-native',
]);

export interface DbDedupStoreOptions {
  /**
   * On single-connection drivers (SQLite), the lock that serialises transactions. Pass the one that other
   * framework components use on the same DataSource (the outbox), so that none of their transactions overlap;
   * by default the store has its own.
   */
  singleConnectionLock?: SerialLock;
  /**
   * How long inbox rows are kept: the dedup window. A message redelivered after its row was deleted runs its handler
   * again. `null` keeps rows forever. Default 7 days (as the other stores' windows).
   */
  retentionMs?: number | null;
  /** Time between two pruning passes. Default 10 minutes. */
  pruneIntervalMs?: number;
  /** Where a failed pruning pass is reported (it is tried again at the next interval). */
  logger?: DedupLogger;
  /**
   * Several handlers in one transaction, each message with its inbox row, one commit for all (see `DbDedupBatcher`):
   * for handlers that only write through the manager they are given. Off by default.
   */
  batch?: DbDedupBatchOptions;
}

export const DEFAULT_INBOX_RETENTION_MS = 7 * 24 * 3_600_000;
export const DEFAULT_INBOX_PRUNE_INTERVAL_MS = 10 * 60_000;

/** Thrown inside the transaction so that TypeORM rolls it back; never leaves this file. */
class InboxRowExists extends Error {}

type Phase = 'claim' | 'work' | 'commit';

/**
 * Dedup with an inbox row written in the handler's own transaction: `execute` opens `dataSource.transaction`,
 * inserts (group, key) into `rmq_inbox`, runs `work` with that transaction's EntityManager and commits. The row and
 * the handler's writes commit or roll back together, so there is no window in which one exists without the other.
 *
 * - The row exists (unique violation): rollback, `duplicate`, `work` not run.
 * - `work` throws: everything rolls back, including the row, and the error is rethrown.
 * - Another transaction inserted the same row and has not ended: PostgreSQL and MySQL/MariaDB make this insert wait
 *   for it, then report a duplicate (it committed) or go on (it rolled back). A deadlock or lock timeout rejects
 *   with `DedupBusyError`.
 * - The database cannot be used before `work` starts (connection refused, pool closed, missing table):
 *   `DedupUnavailableError`. A failure of the final commit is rethrown as it is: `work` ran, but a retry is safe,
 *   as it either runs again (nothing committed) or finds the row (the commit landed and only its answer was lost).
 *
 * On SQLite all transactions of a DataSource share one connection, so this store runs its transactions one at a
 * time (see `singleConnectionLock`); other code must not start its own transactions on that DataSource while a
 * handler runs.
 *
 * Group names and keys longer than 191 characters are stored as `sha256:<hex>` (see `toInboxKey`) so that the
 * primary key fits MySQL's index limit. Create the table with the framework's migrations.
 */
export class DbDedupStore implements DedupStore {
  readonly kind = 'db' as const;
  private readonly totals = new DedupCounterSet();
  private readonly serial: SerialLock | undefined;
  private closed = false;
  private insertSql: string | undefined;
  /** The dedup window in ms; null when rows are kept forever. */
  readonly retentionMs: number | null;
  private readonly pruner: InboxPruner;
  private readonly logger: DedupLogger | undefined;
  private pruneTimer: NodeJS.Timeout | undefined;
  private pruning: Promise<number> | undefined;
  private readonly batcher: DbDedupBatcher | undefined;

  constructor(
    private readonly dataSource: DataSource,
    options: DbDedupStoreOptions = {},
  ) {
    this.serial = SINGLE_CONNECTION_DRIVERS.has(dataSource.options.type)
      ? (options.singleConnectionLock ?? singleConnectionLockFor(dataSource) ?? new SerialLock())
      : undefined;
    this.retentionMs = options.retentionMs === undefined ? DEFAULT_INBOX_RETENTION_MS : options.retentionMs;
    this.pruner = new InboxPruner(dataSource);
    this.logger = options.logger;
    const serial = this.serial;
    this.batcher = options.batch
      ? new DbDedupBatcher(
          dataSource,
          options.batch,
          (entry) => this.executeOne(entry.group, entry.key, entry.work),
          serial ? (work) => serial.run(work) : (work) => work(),
          (outcome) => (outcome === 'duplicate' ? this.totals.duplicate() : this.totals.processed()),
        )
      : undefined;
    if (this.retentionMs !== null) {
      const interval = options.pruneIntervalMs ?? DEFAULT_INBOX_PRUNE_INTERVAL_MS;
      // The first pass waits one interval: by then the application has run its migrations.
      this.pruneTimer = setInterval(() => {
        this.prune().catch((error: unknown) => {
          this.logger?.warn(
            `Pruning the dedup inbox failed; it is tried again in ${interval} ms: ${error instanceof Error ? error.message : String(error)}`,
          );
        });
      }, interval);
      this.pruneTimer.unref();
    }
  }

  /**
   * Deletes inbox rows older than the retention, in chunks of 1,000 rows, and answers how many went.
   * Runs by itself every `pruneIntervalMs`; a call while a pass runs joins that pass. Nothing to do when rows are
   * kept forever.
   */
  prune(now: number = Date.now()): Promise<number> {
    if (this.retentionMs === null || this.closed) return Promise.resolve(0);
    this.pruning ??= this.pruneChunks(now - this.retentionMs).finally(() => {
      this.pruning = undefined;
    });
    return this.pruning;
  }

  private async pruneChunks(cutoffMs: number): Promise<number> {
    const serial = this.serial;
    const exclusive = serial ? <T>(work: () => Promise<T>) => serial.run(work) : undefined;
    let total = 0;
    for (;;) {
      if (this.closed) return total;
      const deleted = await this.pruner.deleteChunk(cutoffMs, exclusive);
      total += deleted;
      if (deleted < INBOX_PRUNE_CHUNK) return total;
      // Let handlers' transactions in between chunks.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  get counters(): DedupCounters {
    return this.totals.snapshot();
  }

  execute(
    group: string,
    key: string,
    work: (manager: EntityManager | undefined) => Promise<void>,
  ): Promise<DedupOutcome> {
    if (this.closed) return Promise.reject(new DedupUnavailableError('db', new Error('the store is closed')));
    return this.batcher ? this.batcher.execute(group, key, work) : this.executeOne(group, key, work);
  }

  /** One message in a transaction of its own. */
  private executeOne(
    group: string,
    key: string,
    work: (manager: EntityManager | undefined) => Promise<void>,
  ): Promise<DedupOutcome> {
    const run = (): Promise<DedupOutcome> => this.executeInTransaction(group, key, work);
    return this.serial ? this.serial.run(run) : run();
  }

  /** The DataSource belongs to the application, which destroys it; this only refuses further calls. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.pruneTimer = undefined;
    // A pass in flight stops after its current chunk; wait for it so the DataSource can be destroyed after close.
    await this.pruning?.catch(() => undefined);
  }

  private async executeInTransaction(
    group: string,
    key: string,
    work: (manager: EntityManager | undefined) => Promise<void>,
  ): Promise<DedupOutcome> {
    if (this.closed) throw new DedupUnavailableError('db', new Error('the store is closed'));
    // An object, not a variable: the compiler does not see assignments made inside the callback.
    const progress: { phase: Phase } = { phase: 'claim' };
    try {
      await this.dataSource.transaction(async (manager) => {
        await this.insertInboxRow(manager, group, key);
        progress.phase = 'work';
        await work(manager);
        progress.phase = 'commit';
      });
    } catch (error) {
      if (progress.phase !== 'claim') throw error;
      if (error instanceof InboxRowExists) {
        this.totals.duplicate();
        return 'duplicate';
      }
      if (error instanceof DedupBusyError) {
        this.totals.busy();
        throw error;
      }
      throw error instanceof DedupUnavailableError ? error : new DedupUnavailableError('db', error);
    }
    this.totals.processed();
    return 'processed';
  }

  private async insertInboxRow(manager: EntityManager, group: string, key: string): Promise<void> {
    this.insertSql ??= this.buildInsertSql();
    const sql = this.insertSql;
    try {
      await manager.query(sql, [toInboxKey(group), toInboxKey(key), Date.now()]);
    } catch (error) {
      switch (databaseErrorKind(error)) {
        case 'unique-violation':
          throw new InboxRowExists();
        case 'lock-conflict':
          throw new DedupBusyError(group, key);
        case 'other':
          throw new DedupUnavailableError('db', error);
      }
    }
  }

  private buildInsertSql(): string {
    const { driver } = this.dataSource;
    const { table, columns } = inboxInsertTarget(this.dataSource);
    const placeholders = [0, 1, 2].map((index) => driver.createParameter(`p${index}`, index)).join(', ');
    return `INSERT INTO ${table} (${columns}) VALUES (${placeholders})`;
  }
}
