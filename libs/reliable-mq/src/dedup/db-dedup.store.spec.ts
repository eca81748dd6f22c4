import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, type EntityManager } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CreateInboxPostgres1700000000002 } from '../migrations/postgres/1700000000002-create-inbox';
import { CreateInboxSqlite1700000000002 } from '../migrations/sqlite/1700000000002-create-inbox';
import { POSTGRES_URL, describeWithService, uniqueName } from '../../../../test/support/services';
import { DedupUnavailableError } from '../errors/dedup-unavailable.error';
import { DbDedupStore } from './db-dedup.store';
import { toInboxKey } from './inbox-key';
import { InboxMessage } from './inbox-message.entity';
import { SerialLock } from './serial-lock';

const CREATE_ORDERS = 'CREATE TABLE IF NOT EXISTS "orders" ("id" varchar(64) PRIMARY KEY, "paid" integer NOT NULL)';

async function paidOrders(dataSource: DataSource): Promise<string[]> {
  const rows: Array<{ id: string }> = await dataSource.query('SELECT "id" FROM "orders" ORDER BY "id"');
  return rows.map((row) => row.id);
}

async function pay(manager: EntityManager | undefined, id: string): Promise<void> {
  if (!manager) throw new Error('the db store must hand work its transaction manager');
  await manager.query('INSERT INTO "orders" ("id", "paid") VALUES (?, 1)', [id]);
}

describe('DbDedupStore on SQLite', () => {
  let directory: string;
  let dataSource: DataSource;

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'rmq-dedup-db-'));
    dataSource = new DataSource({
      type: 'better-sqlite3',
      database: join(directory, 'app.sqlite'),
      entities: [InboxMessage],
      migrations: [CreateInboxSqlite1700000000002],
    });
    await dataSource.initialize();
    await dataSource.runMigrations();
    await dataSource.query(CREATE_ORDERS);
  });

  afterAll(async () => {
    if (dataSource.isInitialized) await dataSource.destroy();
    rmSync(directory, { recursive: true, force: true });
  });

  afterEach(async () => {
    await dataSource.query('DELETE FROM "orders"');
    await dataSource.query('DELETE FROM "rmq_inbox"');
  });

  it('commits the handler writes and the inbox row together', async () => {
    const store = new DbDedupStore(dataSource);
    await expect(store.execute('billing', 'order-1', (manager) => pay(manager, 'order-1'))).resolves.toBe('processed');
    expect(await paidOrders(dataSource)).toEqual(['order-1']);
    const rows = await dataSource.getRepository(InboxMessage).find();
    expect(rows).toEqual([{ groupName: 'billing', dedupKey: 'order-1', processedAt: expect.any(Number) }]);
  });

  it('rolls back the handler writes and the inbox row when work throws, and rethrows the same error', async () => {
    const store = new DbDedupStore(dataSource);
    const failure = new Error('card declined');
    await expect(
      store.execute('billing', 'order-1', async (manager) => {
        await pay(manager, 'order-1');
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await paidOrders(dataSource)).toEqual([]);
    expect(await dataSource.getRepository(InboxMessage).count()).toBe(0);
  });

  it('stores keys and groups over 191 characters as their sha256', async () => {
    const store = new DbDedupStore(dataSource);
    const key = `order/${'9'.repeat(300)}`;
    const group = `g${'-'.repeat(200)}`;
    await store.execute(group, key, async () => undefined);
    const [row] = await dataSource.getRepository(InboxMessage).find();
    expect(row?.dedupKey).toBe(toInboxKey(key));
    expect(row?.dedupKey).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(row?.groupName).toBe(toInboxKey(group));
    await expect(store.execute(group, key, async () => undefined)).resolves.toBe('duplicate');
  });

  it('keeps overlapping handlers of different keys in separate transactions on the one SQLite connection', async () => {
    const store = new DbDedupStore(dataSource);
    let releaseFailing: () => void = () => undefined;
    const failingMayEnd = new Promise<void>((resolve) => {
      releaseFailing = resolve;
    });
    const failing = store.execute('billing', 'order-1', async (manager) => {
      await pay(manager, 'order-1');
      await failingMayEnd;
      throw new Error('card declined');
    });
    const succeeding = store.execute('billing', 'order-2', (manager) => pay(manager, 'order-2'));
    releaseFailing();
    await expect(failing).rejects.toThrow('card declined');
    await expect(succeeding).resolves.toBe('processed');
    // Had the second transaction nested in the first, the first one's rollback would have undone order-2.
    expect(await paidOrders(dataSource)).toEqual(['order-2']);
  });

  it('serialises the transactions of two stores that share a singleConnectionLock', async () => {
    const lock = new SerialLock();
    const first = new DbDedupStore(dataSource, { singleConnectionLock: lock });
    const second = new DbDedupStore(dataSource, { singleConnectionLock: lock });
    const failing = first.execute('billing', 'order-1', async (manager) => {
      await pay(manager, 'order-1');
      await new Promise((resolve) => setTimeout(resolve, 20));
      throw new Error('card declined');
    });
    const succeeding = second.execute('shipping', 'order-2', (manager) => pay(manager, 'order-2'));
    await expect(failing).rejects.toThrow('card declined');
    await expect(succeeding).resolves.toBe('processed');
    expect(await paidOrders(dataSource)).toEqual(['order-2']);
  });

  it('rejects DedupUnavailableError without running work when the inbox table is missing', async () => {
    const other = new DataSource({ type: 'better-sqlite3', database: ':memory:' });
    await other.initialize();
    try {
      let ran = false;
      const attempt = new DbDedupStore(other).execute('billing', 'order-1', async () => void (ran = true));
      await expect(attempt).rejects.toBeInstanceOf(DedupUnavailableError);
      await expect(attempt).rejects.toThrow(/rmq_inbox/);
      expect(ran).toBe(false);
    } finally {
      await other.destroy();
    }
  });

  it('rejects DedupUnavailableError without running work when the DataSource is not connected', async () => {
    const closed = new DataSource({ type: 'better-sqlite3', database: ':memory:' });
    let ran = false;
    await expect(
      new DbDedupStore(closed).execute('billing', 'order-1', async () => void (ran = true)),
    ).rejects.toBeInstanceOf(DedupUnavailableError);
    expect(ran).toBe(false);
  });
});

describeWithService('postgres', 'DbDedupStore on PostgreSQL', () => {
  const schema = uniqueName('rmq_dedup_store');
  let dataSource: DataSource;

  beforeAll(async () => {
    dataSource = new DataSource({
      type: 'postgres',
      url: POSTGRES_URL,
      extra: { options: `-c search_path=${schema}` },
      entities: [InboxMessage],
      migrations: [CreateInboxPostgres1700000000002],
    });
    await dataSource.initialize();
    await dataSource.query(`CREATE SCHEMA "${schema}"`);
    await dataSource.runMigrations();
  });

  afterAll(async () => {
    if (dataSource?.isInitialized) {
      await dataSource.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await dataSource.destroy();
    }
  });

  it('reads processed_at (bigint, a string from pg) back as epoch milliseconds', async () => {
    const before = Date.now();
    await new DbDedupStore(dataSource).execute('billing', 'order-1', async () => undefined);
    const row = await dataSource
      .getRepository(InboxMessage)
      .findOneByOrFail({ groupName: 'billing', dedupKey: 'order-1' });
    expect(typeof row.processedAt).toBe('number');
    expect(row.processedAt).toBeGreaterThanOrEqual(before);
    expect(row.processedAt).toBeLessThanOrEqual(Date.now());
  });

  it("writes to the inbox in the DataSource's schema option, where the migration created it", async () => {
    const otherSchema = uniqueName('rmq_dedup_schema');
    await dataSource.query(`CREATE SCHEMA "${otherSchema}"`);
    // No search_path here: only the schema option says where the framework's tables are.
    const scoped = new DataSource({
      type: 'postgres',
      url: POSTGRES_URL,
      schema: otherSchema,
      migrations: [CreateInboxPostgres1700000000002],
    });
    try {
      await scoped.initialize();
      await scoped.runMigrations();
      const store = new DbDedupStore(scoped);
      await expect(store.execute('billing', 'order-1', async () => undefined)).resolves.toBe('processed');
      await expect(store.execute('billing', 'order-1', async () => undefined)).resolves.toBe('duplicate');
      const rows: Array<{ dedup_key: string }> = await dataSource.query(
        `SELECT dedup_key FROM "${otherSchema}".rmq_inbox`,
      );
      expect(rows).toEqual([{ dedup_key: 'order-1' }]);
    } finally {
      if (scoped.isInitialized) await scoped.destroy();
      await dataSource.query(`DROP SCHEMA IF EXISTS "${otherSchema}" CASCADE`);
    }
  });

  it('rejects DedupUnavailableError without running work when the connection pool is gone', async () => {
    const broken = new DataSource({
      type: 'postgres',
      url: POSTGRES_URL,
      extra: { options: `-c search_path=${schema}` },
    });
    await broken.initialize();
    // Ends the pg pool under TypeORM, as a database that went away would leave it: no connection can be had.
    await (broken.driver as PostgresDriver).master.end();
    let ran = false;
    const started = Date.now();
    await expect(
      new DbDedupStore(broken).execute('billing', 'order-1', async () => void (ran = true)),
    ).rejects.toBeInstanceOf(DedupUnavailableError);
    expect(ran).toBe(false);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
