import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { DataSource, type MigrationInterface } from 'typeorm';
import { afterAll, beforeAll, describe } from 'vitest';
import { CreateInboxMysql1700000000002 } from '../../../../migrations/mysql/1700000000002-create-inbox';
import { CreateInboxPostgres1700000000002 } from '../../../../migrations/postgres/1700000000002-create-inbox';
import { CreateInboxSqlite1700000000002 } from '../../../../migrations/sqlite/1700000000002-create-inbox';
import {
  MARIADB_URL,
  POSTGRES_URL,
  REDIS_URL,
  describeWithService,
  uniqueName,
} from '../../../../test/support/services';
import { dedupStoreContract } from '../testing/dedup-store.contract';
import { DbDedupStore } from './db-dedup.store';
import { MemoryDedupStore } from './memory-dedup.store';
import { RedisDedupStore } from './redis-dedup.store';

dedupStoreContract('MemoryDedupStore', async () => ({ store: new MemoryDedupStore() }));

describeWithService('redis', 'RedisDedupStore on Redis', () => {
  const keyPrefix = `${uniqueName('rmq_dedup_contract')}:`;
  let admin: Redis;

  beforeAll(() => {
    admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  });

  afterAll(async () => {
    await deleteKeysWithPrefix(admin, keyPrefix);
    await admin.quit();
  });

  dedupStoreContract('with a url (the store owns its client)', async () => ({
    store: new RedisDedupStore({ url: REDIS_URL, keyPrefix }),
  }));

  dedupStoreContract('with a client passed in', async () => {
    const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
    return { store: new RedisDedupStore({ client, keyPrefix }), cleanup: async () => void (await client.quit()) };
  });
});

describe('DbDedupStore on SQLite (better-sqlite3)', () => {
  let directory: string;
  let dataSource: DataSource | undefined;

  registerDataSourceContract({
    setUp: async () => {
      directory = mkdtempSync(join(tmpdir(), 'rmq-dedup-'));
      dataSource = new DataSource({
        type: 'better-sqlite3',
        database: join(directory, 'inbox.sqlite'),
        migrations: [CreateInboxSqlite1700000000002],
      });
      await initialiseWithInbox(dataSource, new CreateInboxSqlite1700000000002());
      return dataSource;
    },
    tearDown: async () => {
      if (dataSource?.isInitialized) await dataSource.destroy();
      rmSync(directory, { recursive: true, force: true });
    },
  });
});

describeWithService('postgres', 'DbDedupStore on PostgreSQL', () => {
  const schema = uniqueName('rmq_dedup');
  let dataSource: DataSource | undefined;

  registerDataSourceContract({
    setUp: async () => {
      // Every pooled connection resolves unqualified names in the schema of this run only.
      dataSource = new DataSource({
        type: 'postgres',
        url: POSTGRES_URL,
        extra: { options: `-c search_path=${schema}` },
        migrations: [CreateInboxPostgres1700000000002],
      });
      await dataSource.initialize();
      await dataSource.query(`CREATE SCHEMA "${schema}"`);
      await initialiseWithInbox(dataSource, new CreateInboxPostgres1700000000002());
      return dataSource;
    },
    tearDown: async () => {
      if (dataSource?.isInitialized) {
        await dataSource.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await dataSource.destroy();
      }
    },
  });
});

describeWithService('mariadb', 'DbDedupStore on MariaDB', () => {
  const database = uniqueName('rmq_dedup');
  let dataSource: DataSource | undefined;

  registerDataSourceContract({
    setUp: async () => {
      const admin = new DataSource({ type: 'mariadb', url: MARIADB_URL });
      await admin.initialize();
      try {
        await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4`);
      } finally {
        await admin.destroy();
      }
      const url = new URL(MARIADB_URL);
      url.pathname = `/${database}`;
      dataSource = new DataSource({
        type: 'mariadb',
        url: url.toString(),
        charset: 'utf8mb4',
        migrations: [CreateInboxMysql1700000000002],
      });
      await initialiseWithInbox(dataSource, new CreateInboxMysql1700000000002());
      return dataSource;
    },
    tearDown: async () => {
      if (dataSource?.isInitialized) {
        await dataSource.query(`DROP DATABASE IF EXISTS \`${database}\``);
        await dataSource.destroy();
      }
    },
  });
});

interface DataSourceLifecycle {
  setUp: () => Promise<DataSource>;
  tearDown: () => Promise<void>;
}

/** One DataSource for all cases of a run: each case writes under its own random group names. */
function registerDataSourceContract(lifecycle: DataSourceLifecycle): void {
  let dataSource: DataSource | undefined;
  beforeAll(async () => {
    dataSource = await lifecycle.setUp();
  });
  afterAll(async () => {
    await lifecycle.tearDown();
  });
  dedupStoreContract('contract', async () => {
    if (!dataSource) throw new Error('The DataSource was not set up.');
    return { store: new DbDedupStore(dataSource) };
  });
}

/** Runs the inbox migration through TypeORM, then once more by hand to show that it is idempotent. */
async function initialiseWithInbox(dataSource: DataSource, migration: MigrationInterface): Promise<void> {
  if (!dataSource.isInitialized) await dataSource.initialize();
  await dataSource.runMigrations({ transaction: 'each' });
  const queryRunner = dataSource.createQueryRunner();
  try {
    await migration.up(queryRunner);
  } finally {
    await queryRunner.release();
  }
}

async function deleteKeysWithPrefix(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    if (keys.length > 0) await client.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}
