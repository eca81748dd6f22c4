import {
  MIGRATIONS_TABLE,
  reliableMqMigrations,
  runReliableMqMigrations,
  type ReliableMqDatabaseType,
} from '../migrations';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { REPO_ROOT, ROOT_TSCONFIG, TS_NODE_ARGS } from '../../../../test/support/spawn-ts';
import { MARIADB_URL, POSTGRES_URL, describeWithService, uniqueName } from '../../../../test/support/services';
import { OutboxMessageEntity } from './outbox-message.entity';
import { TestDatabase, type TestDatabaseKind } from '../../../../test/support/outbox-test-kit';

const URLS = { postgres: POSTGRES_URL, mariadb: MARIADB_URL };

const CHILD_SCRIPT = `
const { DataSource } = require('typeorm');
const { runReliableMqMigrations } = require(${JSON.stringify(path.join(REPO_ROOT, 'libs', 'reliable-mq', 'src', 'migrations', 'index.ts'))});
(async () => {
  const dataSource = await new DataSource({ type: 'better-sqlite3', database: process.env.RMQ_DB, timeout: 20000 }).initialize();
  // All children start together, to contend for the lock.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(process.env.RMQ_START_AT) - Date.now())));
  const applied = await runReliableMqMigrations(dataSource);
  await dataSource.destroy();
  process.stdout.write(JSON.stringify(applied));
})().catch((error) => {
  process.stderr.write(String(error && error.stack || error));
  process.exit(1);
});
`;

let startAt = 0;

function migrateInChildProcess(database: string): Promise<string[]> {
  startAt = Math.max(startAt, Date.now() + 1_500);
  const child = spawn(process.execPath, [...TS_NODE_ARGS, '-e', CHILD_SCRIPT], {
    cwd: REPO_ROOT,
    env: { ...process.env, SWC_NODE_PROJECT: ROOT_TSCONFIG, RMQ_DB: database, RMQ_START_AT: String(startAt) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out) as string[]) : reject(new Error(`migration child exited ${code}: ${err}`)),
    );
  });
}

const TYPE: Record<TestDatabaseKind, ReliableMqDatabaseType> = {
  sqlite: 'better-sqlite3',
  postgres: 'postgres',
  mariadb: 'mariadb',
};
const EXPECTED: Record<TestDatabaseKind, string[]> = {
  sqlite: [
    'CreateOutboxSqlite1700000000001',
    'CreateInboxSqlite1700000000002',
    'CreateHalfMessagesSqlite1700000000003',
    'RebuildTablesSqlite1700000000004',
  ],
  postgres: [
    'CreateOutboxPostgres1700000000001',
    'CreateInboxPostgres1700000000002',
    'CreateHalfMessagesPostgres1700000000003',
  ],
  mariadb: [
    'CreateOutboxMysql1700000000001',
    'CreateInboxMysql1700000000002',
    'CreateHalfMessagesMysql1700000000003',
    'WidenOutboxTextMysql1700000000004',
  ],
};

function migrationSuite(kind: TestDatabaseKind): void {
  let db: TestDatabase;

  beforeEach(async () => {
    db = await TestDatabase.create(kind, URLS, uniqueName('rmq_mig'), { migrate: false });
  });

  afterEach(async () => {
    await db.dispose();
  });

  it('lists the migrations for the database type, oldest first', () => {
    expect(reliableMqMigrations(TYPE[kind]).map((Migration) => new Migration().name)).toEqual(EXPECTED[kind]);
  });

  it('applies pending migrations once and records them', async () => {
    expect(await runReliableMqMigrations(db.dataSource)).toEqual(EXPECTED[kind]);
    expect(await runReliableMqMigrations(db.dataSource)).toEqual([]);
    const recorded = (await db.dataSource.query(`SELECT name FROM ${MIGRATIONS_TABLE} ORDER BY name DESC`)) as Array<{
      name: string;
    }>;
    expect(recorded.map((row) => row.name).sort()).toEqual([...EXPECTED[kind]].sort());
    // The entity reads the migrated table, with epoch-ms columns as numbers.
    await db.exec(
      `INSERT INTO {t} (id, producer_group, topic, headers, payload, status, attempts, next_attempt_at, created_at)
       VALUES ('id-1', 'g', 't', '{}', 'null', 'pending', 0, ${db.param(1)}, ${db.param(2)})`,
      [1_700_000_000_123, 1_700_000_000_456],
    );
    const [row] = await db.dataSource.getRepository(OutboxMessageEntity).find();
    expect(row).toMatchObject({
      id: 'id-1',
      nextAttemptAt: 1_700_000_000_123,
      createdAt: 1_700_000_000_456,
      key: null,
      deliverAt: null,
    });
    expect(typeof row!.seq).toBe('number');
  });

  it('is safe when several processes migrate at once', async () => {
    let results: string[][];
    if (kind === 'sqlite') {
      // better-sqlite3 waits for a lock by blocking its thread, so contention needs real processes.
      results = await Promise.all(
        Array.from({ length: 4 }, () => migrateInChildProcess(db.dataSource.options.database as string)),
      );
    } else {
      const others = await Promise.all([db.open(), db.open(), db.open()]);
      results = await Promise.all([db.dataSource, ...others].map((dataSource) => runReliableMqMigrations(dataSource)));
    }
    expect(results.flat().sort()).toEqual([...EXPECTED[kind]].sort());
    expect(results.filter((applied) => applied.length > 0)).toHaveLength(1);
  });

  it('works from a DataSource migrations array (TypeORM CLI), also after runReliableMqMigrations', async () => {
    await runReliableMqMigrations(db.dataSource);
    const cli = await db.open({ migrations: reliableMqMigrations(TYPE[kind]) });
    const ran = await cli.runMigrations();
    expect(ran.map((migration) => migration.name)).toEqual(EXPECTED[kind]);
    await cli.undoLastMigration();
    await cli.undoLastMigration();
    expect(await cli.runMigrations()).toHaveLength(2);
  });
}

describe('ReliableMQ migrations on SQLite', () => migrationSuite('sqlite'));
describeWithService('postgres', 'ReliableMQ migrations on PostgreSQL', () => migrationSuite('postgres'));
describeWithService('mariadb', 'ReliableMQ migrations on MariaDB', () => migrationSuite('mariadb'));

describe('reliableMqMigrations', () => {
  it('maps mariadb to the MySQL migrations and refuses unknown types', () => {
    expect(reliableMqMigrations('mariadb')).toEqual(reliableMqMigrations('mysql'));
    expect(reliableMqMigrations('sqlite')).toEqual(reliableMqMigrations('better-sqlite3'));
    expect(() => reliableMqMigrations('oracle' as ReliableMqDatabaseType)).toThrow(
      /better-sqlite3, sqlite, postgres, mysql and mariadb/,
    );
  });
});
