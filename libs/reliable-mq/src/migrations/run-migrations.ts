import { createHash } from 'node:crypto';
import type { DataSource, MigrationInterface, QueryRunner } from 'typeorm';
import { frameworkTable } from './framework-table';

export type MigrationClass = new () => MigrationInterface;

export const MIGRATIONS_TABLE = 'rmq_migrations';

/** How long a process waits for another one that is migrating the same database. */
const LOCK_TIMEOUT_SECONDS = 120;

function migrationName(migration: MigrationInterface): string {
  return migration.name ?? migration.constructor.name;
}

/**
 * Applies the migrations in `classes` that the database has not recorded in `rmq_migrations`, in order, and
 * resolves their names. Idempotent, and safe when several processes start at once:
 * - PostgreSQL: one transaction holding an advisory lock; DDL is transactional, so it applies all or nothing;
 * - MySQL/MariaDB: a named lock (GET_LOCK) around the run; DDL commits on its own there, so each migration is
 *   recorded right after it succeeds, and the migrations themselves are idempotent for a retry after a crash;
 * - SQLite: one `BEGIN IMMEDIATE` transaction, which takes SQLite's single write lock before reading anything, so
 *   a second process waits (busy timeout) instead of failing on a lock upgrade. With better-sqlite3, that wait
 *   blocks its thread: run migrations from one connection per process.
 */
export async function applyMigrations(dataSource: DataSource, classes: readonly MigrationClass[]): Promise<string[]> {
  const runner = dataSource.createQueryRunner();
  try {
    await runner.connect();
    switch (dataSource.options.type) {
      case 'postgres':
        return await inTransaction(runner, async () => {
          await runner.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
            `reliable-mq:${frameworkTable(runner, MIGRATIONS_TABLE)}`,
          ]);
          return applyPending(runner, classes);
        });
      case 'mysql':
      case 'mariadb':
        return await withNamedLock(runner, () => applyPending(runner, classes));
      default:
        return await inImmediateTransaction(runner, () => applyPending(runner, classes));
    }
  } finally {
    await runner.release();
  }
}

async function applyPending(runner: QueryRunner, classes: readonly MigrationClass[]): Promise<string[]> {
  const table = frameworkTable(runner, MIGRATIONS_TABLE);
  const mysql = runner.connection.options.type === 'mysql' || runner.connection.options.type === 'mariadb';
  const param = (index: number): string => (runner.connection.options.type === 'postgres' ? `$${index}` : '?');
  await runner.query(
    `CREATE TABLE IF NOT EXISTS ${table} (name varchar(191) NOT NULL PRIMARY KEY, run_at bigint NOT NULL)` +
      (mysql ? ' ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin' : ''),
  );
  const rows = (await runner.query(`SELECT name FROM ${table}`)) as Array<{ name: string }>;
  const done = new Set(rows.map((row) => row.name));
  const applied: string[] = [];
  for (const Migration of classes) {
    const migration = new Migration();
    const name = migrationName(migration);
    if (done.has(name)) continue;
    await migration.up(runner);
    await runner.query(`INSERT INTO ${table} (name, run_at) VALUES (${param(1)}, ${param(2)})`, [name, Date.now()]);
    applied.push(name);
  }
  return applied;
}

async function inTransaction<T>(runner: QueryRunner, work: () => Promise<T>): Promise<T> {
  await runner.startTransaction();
  try {
    const result = await work();
    await runner.commitTransaction();
    return result;
  } catch (error) {
    await runner.rollbackTransaction().catch(() => undefined);
    throw error;
  }
}

/**
 * TypeORM opens SQLite transactions with a deferred BEGIN, which takes the write lock only at the first write; two
 * processes that both read first then deadlock on the upgrade and one gets SQLITE_BUSY at once.
 */
async function inImmediateTransaction<T>(runner: QueryRunner, work: () => Promise<T>): Promise<T> {
  await runner.query('BEGIN IMMEDIATE');
  try {
    const result = await work();
    await runner.query('COMMIT');
    return result;
  } catch (error) {
    await runner.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

async function withNamedLock<T>(runner: QueryRunner, work: () => Promise<T>): Promise<T> {
  const [{ db }] = (await runner.query('SELECT DATABASE() AS db')) as [{ db: string | null }];
  // Lock names are server-wide and limited to 64 characters, so the database name is hashed into it.
  const name = `rmq_migrations:${createHash('sha1')
    .update(db ?? '')
    .digest('hex')}`;
  const [{ got }] = (await runner.query('SELECT GET_LOCK(?, ?) AS got', [name, LOCK_TIMEOUT_SECONDS])) as [
    { got: number | string | null },
  ];
  if (Number(got) !== 1) {
    throw new Error(
      `Another process has been running ReliableMQ migrations on database "${db}" for over ${LOCK_TIMEOUT_SECONDS} s; ` +
        'check it, then start this one again.',
    );
  }
  try {
    return await work();
  } finally {
    await runner.query('SELECT RELEASE_LOCK(?)', [name]).catch(() => undefined);
  }
}
