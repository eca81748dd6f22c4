import type { Database } from 'better-sqlite3';
import { outboxDialect } from '@reliable-mq/nestjs';
import type { DataSource } from 'typeorm';

export interface HalfMessageCounts {
  unresolved: number;
  discarded: number;
}

/** The framework's half-message table; the console reads it by name next to the outbox. */
const HALF_MESSAGE_TABLE = 'rmq_half_message';
/** How long a read waits for the service's own transaction on a shared SQLite connection. */
const SQLITE_IDLE_WAIT_MS = 10_000;

/**
 * Half messages a service keeps in its own database (`rmq_half_message`: on RabbitMQ, where the framework keeps them
 * beside the outbox), by state; null when the database has no such table or it cannot be read.
 */
export async function readHalfMessageCounts(dataSource: DataSource): Promise<HalfMessageCounts | null> {
  const dialect = outboxDialect(dataSource);
  const schema = (dataSource.options as { schema?: string }).schema;
  const table =
    dialect.name === 'postgres' && schema
      ? `${dialect.quote(schema)}.${dialect.quote(HALF_MESSAGE_TABLE)}`
      : dialect.quote(HALF_MESSAGE_TABLE);
  const sql = `SELECT state, COUNT(*) AS n FROM ${table} WHERE state IN ('unresolved', 'discarded') GROUP BY state`;
  try {
    const rows = dialect.name === 'sqlite' ? await readOnSqlite(dataSource, sql) : await readOnPool(dataSource, sql);
    const counts: HalfMessageCounts = { unresolved: 0, discarded: 0 };
    for (const row of rows) {
      if (row.state === 'unresolved' || row.state === 'discarded') counts[row.state] = Number(row.n ?? 0);
    }
    return counts;
  } catch {
    return null;
  }
}

async function readOnPool(dataSource: DataSource, sql: string): Promise<Array<Record<string, unknown>>> {
  const runner = dataSource.createQueryRunner();
  try {
    return (await runner.query(sql)) as Array<Record<string, unknown>>;
  } finally {
    await runner.release();
  }
}

/**
 * TypeORM shares one SQLite connection with the service's code: the read runs on the raw handle, and only while it is
 * outside any transaction, so it never sees rows a handler may yet roll back.
 */
async function readOnSqlite(dataSource: DataSource, sql: string): Promise<Array<Record<string, unknown>>> {
  const deadline = Date.now() + SQLITE_IDLE_WAIT_MS;
  for (let pause = 1; ; pause = Math.min(pause * 2, 20)) {
    const db = (dataSource.driver as unknown as { databaseConnection?: Database }).databaseConnection;
    if (!db || !db.open) throw new Error('The service database is not connected.');
    if (!db.inTransaction) return db.prepare(sql).all() as Array<Record<string, unknown>>;
    if (Date.now() >= deadline) throw new Error('The service database stayed inside a transaction for 10 s.');
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}
