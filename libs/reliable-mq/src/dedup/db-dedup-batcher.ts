import type { DataSource, EntityManager } from 'typeorm';
import { ConfigurationError } from '../errors/configuration.error';
import type { DedupOutcome } from './dedup-store.interface';
import { toInboxKey } from './inbox-key';
import { INBOX_TABLE } from './inbox-message.entity';

/** How the `db` store groups handlers into one transaction (`DbDedupStoreOptions.batch`). */
export interface DbDedupBatchOptions {
  /** Most messages in one transaction. Default 64. */
  maxMessages?: number;
  /**
   * Transactions of batches running at once; while all are busy, arriving messages wait and go together in the next
   * one. Default 4; at most the DataSource's pool size is useful.
   */
  maxInFlight?: number;
}

export const DEFAULT_BATCH_MAX_MESSAGES = 64;
export const DEFAULT_BATCH_MAX_IN_FLIGHT = 4;

interface Entry {
  group: string;
  key: string;
  work: (manager: EntityManager | undefined) => Promise<void>;
  resolve: (outcome: DedupOutcome) => void;
  reject: (error: unknown) => void;
}

/**
 * Runs several `execute` calls in one transaction, each message with its inbox row, one commit for all: the
 * database's cost per commit is paid once per batch instead of once per message.
 *
 * In the transaction, each message's row is inserted with "on conflict do nothing"; a message whose row exists is a
 * duplicate and its work does not run; the others' work runs one after another with the transaction's manager. If
 * any work throws, or the transaction cannot commit, nothing of the batch is kept and every message of it runs again
 * alone through `single` (its own transaction, as without batching): the one that fails fails alone, the others
 * commit. So each message's effects and its row still commit together, once; what a message's work does outside the
 * database may run a second time when another message of its batch failed (as after any redelivery).
 *
 * Work runs in sequence within a batch: batching suits handlers that only write through the manager. Batches start
 * at the end of the event loop's current turn, when a slot is free: the messages a transport hands out together
 * (a refill of freed prefetch slots comes in one turn) share one transaction instead of the first of them leaving
 * alone, and a lone message waits only for that turn. Under load, messages that arrive while every slot is busy
 * share the next transaction.
 */
export class DbDedupBatcher {
  private readonly queue: Entry[] = [];
  private inFlight = 0;
  private startScheduled = false;
  private readonly maxMessages: number;
  private readonly maxInFlight: number;
  private insertSql: ((rows: number) => string) | undefined;
  /** The insert's text for a single row and for a full batch, the counts that repeat; other counts are built anew. */
  private readonly insertSqlByRows = new Map<number, string>();

  constructor(
    private readonly dataSource: DataSource,
    options: DbDedupBatchOptions,
    /** One message in its own transaction: the fallback, with the store's own error handling and counters. */
    private readonly single: (entry: Omit<Entry, 'resolve' | 'reject'>) => Promise<DedupOutcome>,
    /** Serialises transactions on single-connection drivers; runs `work` directly elsewhere. */
    private readonly exclusive: <T>(work: () => Promise<T>) => Promise<T>,
    private readonly onBatchOutcome: (outcome: DedupOutcome) => void,
  ) {
    this.maxMessages = positiveInteger(options.maxMessages, DEFAULT_BATCH_MAX_MESSAGES, 'batch.maxMessages');
    this.maxInFlight = positiveInteger(options.maxInFlight, DEFAULT_BATCH_MAX_IN_FLIGHT, 'batch.maxInFlight');
  }

  execute(
    group: string,
    key: string,
    work: (manager: EntityManager | undefined) => Promise<void>,
  ): Promise<DedupOutcome> {
    return new Promise<DedupOutcome>((resolve, reject) => {
      this.queue.push({ group, key, work, resolve, reject });
      this.scheduleStart();
    });
  }

  /** Starts batches once the current turn has queued what it hands out; nothing to do while every slot is busy. */
  private scheduleStart(): void {
    if (this.startScheduled || this.inFlight >= this.maxInFlight || this.queue.length === 0) return;
    this.startScheduled = true;
    setImmediate(() => {
      this.startScheduled = false;
      this.startBatches();
    });
  }

  private startBatches(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxMessages);
      this.inFlight += 1;
      void this.runBatch(batch).finally(() => {
        this.inFlight -= 1;
        this.scheduleStart();
      });
    }
  }

  private async runBatch(batch: Entry[]): Promise<void> {
    if (batch.length === 1) {
      await this.runAlone(batch[0]!);
      return;
    }
    let outcomes: DedupOutcome[];
    try {
      outcomes = await this.exclusive(() =>
        this.dataSource.transaction((manager) => this.inTransaction(manager, batch)),
      );
    } catch {
      // A work failed, a row was locked, or the commit did not happen: nothing of the batch is kept.
      await Promise.all(batch.map((entry) => this.runAlone(entry)));
      return;
    }
    batch.forEach((entry, index) => {
      this.onBatchOutcome(outcomes[index]!);
      entry.resolve(outcomes[index]!);
    });
  }

  private async runAlone(entry: Entry): Promise<void> {
    try {
      entry.resolve(await this.single(entry));
    } catch (error) {
      entry.reject(error);
    }
  }

  private async inTransaction(manager: EntityManager, batch: Entry[]): Promise<DedupOutcome[]> {
    const inserted = await this.claim(manager, batch);
    const outcomes: DedupOutcome[] = [];
    for (let index = 0; index < batch.length; index++) {
      if (!inserted[index]) {
        outcomes.push('duplicate');
        continue;
      }
      // A failing work rejects the transaction: nothing of the batch is kept, and `runBatch` runs each alone.
      await batch[index]!.work(manager);
      outcomes.push('processed');
    }
    return outcomes;
  }

  /** Inserts the batch's inbox rows, skipping those that exist; answers, per entry, whether its row is new. */
  private async claim(manager: EntityManager, batch: Entry[]): Promise<boolean[]> {
    const rows = batch.map((entry) => [toInboxKey(entry.group), toInboxKey(entry.key)] as const);
    const now = Date.now();
    const type = this.dataSource.options.type;
    if (type === 'mysql' || type === 'mariadb' || type === 'aurora-mysql') {
      // No RETURNING on MySQL: one INSERT IGNORE per row, its affected rows say whether it was new.
      const sql = this.insertStatement(1);
      const inserted: boolean[] = [];
      for (const [group, key] of rows) {
        const result = (await manager.query(sql, [group, key, now])) as { affectedRows?: number };
        inserted.push((result.affectedRows ?? 0) > 0);
      }
      return inserted;
    }
    const returned = (await manager.query(
      this.insertStatement(rows.length),
      rows.flatMap(([group, key]) => [group, key, now]),
    )) as Array<{ group_name: string; dedup_key: string }>;
    const fresh = new Set(returned.map((row) => `${row.group_name}\u0000${row.dedup_key}`));
    // The same key twice in one batch: the first is new, the next a duplicate.
    return rows.map(([group, key]) => fresh.delete(`${group}\u0000${key}`));
  }

  private insertStatement(rows: number): string {
    let sql = this.insertSqlByRows.get(rows);
    if (sql === undefined) {
      sql = this.sql()(rows);
      if (rows === 1 || rows === this.maxMessages) this.insertSqlByRows.set(rows, sql);
    }
    return sql;
  }

  private sql(): (rows: number) => string {
    if (this.insertSql) return this.insertSql;
    const { driver, options } = this.dataSource;
    const { table, columns } = inboxInsertTarget(this.dataSource);
    const mysql = options.type === 'mysql' || options.type === 'mariadb' || options.type === 'aurora-mysql';
    this.insertSql = (count: number) => {
      const values = Array.from({ length: count }, (_, row) => {
        const params = [0, 1, 2].map((column) => driver.createParameter(`p${row * 3 + column}`, row * 3 + column));
        return `(${params.join(', ')})`;
      }).join(', ');
      return mysql
        ? `INSERT IGNORE INTO ${table} (${columns}) VALUES ${values}`
        : `INSERT INTO ${table} (${columns}) VALUES ${values} ON CONFLICT DO NOTHING RETURNING ${driver.escape('group_name')} AS group_name, ${driver.escape('dedup_key')} AS dedup_key`;
    };
    return this.insertSql;
  }
}

/** The inbox table (in the framework's schema on PostgreSQL) and its columns, escaped for the DataSource's driver. */
export function inboxInsertTarget(dataSource: DataSource): { table: string; columns: string } {
  const { driver, options } = dataSource;
  let table = driver.escape(INBOX_TABLE);
  // Where TypeORM puts entities, and the framework's migrations put their tables, on PostgreSQL.
  if (options.type === 'postgres' && options.schema) table = `${driver.escape(options.schema)}.${table}`;
  const columns = ['group_name', 'dedup_key', 'processed_at'].map((column) => driver.escape(column)).join(', ');
  return { table, columns };
}

function positiveInteger(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1 || value > 10_000) {
    throw new ConfigurationError(`dedup.${name} must be an integer from 1 to 10,000; got ${String(value)}.`);
  }
  return value;
}
