import type { DataSource } from 'typeorm';
import { INBOX_TABLE } from './inbox-message.entity';

/** Rows deleted per statement: small enough that no delete holds locks, or SQLite's writer, for long. */
export const INBOX_PRUNE_CHUNK = 1_000;

/**
 * Deletes inbox rows whose `processed_at` is older than a cut-off, one bounded chunk per statement, so that a large
 * backlog of old rows never becomes one long transaction. The cut-off is what bounds the `db` store's dedup window:
 * a message redelivered after its row is gone runs its handler again.
 */
export class InboxPruner {
  private deleteSql: string | undefined;

  constructor(private readonly dataSource: DataSource) {}

  /**
   * Deletes one chunk of rows processed before `cutoffMs` and answers how many went. `runExclusive` wraps the
   * statement (the store's SQLite lock, so the delete never lands inside a handler's transaction).
   */
  async deleteChunk(
    cutoffMs: number,
    runExclusive: <T>(work: () => Promise<T>) => Promise<T> = (work) => work(),
  ): Promise<number> {
    this.deleteSql ??= this.buildDeleteSql();
    const sql = this.deleteSql;
    return runExclusive(async () => {
      const runner = this.dataSource.createQueryRunner();
      try {
        // The structured result carries the deleted-row count on every driver.
        const result = await runner.query(sql, [cutoffMs, INBOX_PRUNE_CHUNK], true);
        return typeof result.affected === 'number' ? result.affected : 0;
      } finally {
        await runner.release();
      }
    });
  }

  private buildDeleteSql(): string {
    const { driver, options } = this.dataSource;
    let table = driver.escape(INBOX_TABLE);
    if (options.type === 'postgres' && options.schema) table = `${driver.escape(options.schema)}.${table}`;
    const processedAt = driver.escape('processed_at');
    const cutoff = driver.createParameter('cutoff', 0);
    const limit = driver.createParameter('limit', 1);
    switch (options.type) {
      case 'postgres':
        // DELETE has no LIMIT in PostgreSQL; the physical row id of a bounded sub-select stands in for it.
        return `DELETE FROM ${table} WHERE ctid IN (SELECT ctid FROM ${table} WHERE ${processedAt} < ${cutoff} LIMIT ${limit})`;
      case 'mysql':
      case 'mariadb':
        return `DELETE FROM ${table} WHERE ${processedAt} < ${cutoff} ORDER BY ${processedAt} LIMIT ${limit}`;
      default:
        // SQLite: the table has a rowid (it is not WITHOUT ROWID), and the index on processed_at finds the chunk.
        return `DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} WHERE ${processedAt} < ${cutoff} LIMIT ${limit})`;
    }
  }
}
