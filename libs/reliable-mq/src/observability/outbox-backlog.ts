import type { Database } from 'better-sqlite3';
import type { DataSource } from 'typeorm';
import { singleConnectionLockFor, type SerialLock } from '../dedup/serial-lock';
import { outboxDialect, type OutboxDialect } from '../outbox/outbox-dialect';

/** What the outbox holds that has not gone out. */
export interface OutboxBacklog {
  /** Rows waiting to be sent (including those backing off after a failure), at most `countLimit`. */
  pending: number;
  /** When the oldest pending row was written (epoch ms); null when none is pending. */
  oldestPendingCreatedAt: number | null;
  /** Rows that failed `maxAttempts` times and wait for an operator, at most `countLimit`. */
  dead: number;
  /** The counts stop at this; a count equal to it means "this many or more". */
  countLimit: number;
}

/** Counted rows per status, at most: a scrape must cost the database a bounded walk of one index, however large. */
export const OUTBOX_COUNT_LIMIT = 100_000;

/** How long a read waits for the shared SQLite connection to be outside an application transaction. */
const SQLITE_IDLE_WAIT_MS = 5_000;

/**
 * Reads the outbox backlog in one statement. Each count walks the (status, seq) index and stops after
 * `OUTBOX_COUNT_LIMIT` entries; the oldest pending row is the first entry of that index for `pending`, since seq
 * follows the order rows were written.
 */
export class OutboxBacklogReader {
  private readonly dialect: OutboxDialect;
  private readonly sql: string;
  private readonly lock: SerialLock | undefined;

  constructor(
    private readonly dataSource: DataSource,
    readonly countLimit = OUTBOX_COUNT_LIMIT,
  ) {
    this.dialect = outboxDialect(dataSource);
    this.lock = singleConnectionLockFor(dataSource);
    const t = this.dialect.table;
    const limit = Math.max(1, Math.floor(countLimit));
    const count = (status: string, alias: string): string =>
      `(SELECT COUNT(*) FROM (SELECT 1 AS one FROM ${t} WHERE status = '${status}' LIMIT ${limit}) AS ${alias})`;
    this.sql =
      `SELECT ${count('pending', 'p')} AS pending, ${count('dead', 'd')} AS dead, ` +
      `(SELECT created_at FROM ${t} WHERE status = 'pending' ORDER BY seq LIMIT 1) AS oldest`;
  }

  async read(): Promise<OutboxBacklog> {
    const row = this.dialect.name === 'sqlite' ? await this.readSqlite() : await this.readServer();
    return {
      pending: Number(row.pending ?? 0),
      dead: Number(row.dead ?? 0),
      oldestPendingCreatedAt: row.oldest === null || row.oldest === undefined ? null : Number(row.oldest),
      countLimit: this.countLimit,
    };
  }

  private async readServer(): Promise<RawBacklog> {
    const rows = (await this.dataSource.query(this.sql)) as RawBacklog[];
    return rows[0] ?? {};
  }

  /**
   * TypeORM's better-sqlite3 driver has one connection for everything: a statement issued while the application is
   * inside a transaction would run in it and count rows that may yet be rolled back. As the relay's statements do,
   * the read takes its turn on the lock the application's transactions queue on, and runs on the raw handle in a
   * moment when no transaction is open.
   */
  private async readSqlite(): Promise<RawBacklog> {
    const deadline = Date.now() + SQLITE_IDLE_WAIT_MS;
    const attempt = (): RawBacklog | undefined => {
      const db = (this.dataSource.driver as unknown as { databaseConnection?: Database }).databaseConnection;
      if (!db || !db.open) throw new Error('The SQLite DataSource is not connected.');
      if (db.inTransaction) return undefined;
      return (db.prepare(this.sql).get() as RawBacklog | undefined) ?? {};
    };
    for (;;) {
      const row = this.lock ? await this.lock.run(async () => attempt()) : attempt();
      if (row) return row;
      if (Date.now() >= deadline) {
        throw new Error('The SQLite connection stayed inside an application transaction; the outbox was not read.');
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

interface RawBacklog {
  pending?: number | string | bigint;
  dead?: number | string | bigint;
  oldest?: number | string | bigint | null;
}
