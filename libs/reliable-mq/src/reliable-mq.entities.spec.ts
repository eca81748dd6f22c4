import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Column, DataSource, Entity, PrimaryColumn, type DataSourceOptions } from 'typeorm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeTransport } from '../../../test/support/outbox-test-kit';
import { MARIADB_URL, POSTGRES_URL, describeWithService, uniqueName } from '../../../test/support/services';
import { InboxMessage } from './dedup/inbox-message.entity';
import { reliableMqMigrations, runReliableMqMigrations } from './migrations';
import { applyMigrations } from './migrations/run-migrations';
import { createOutboxStore } from './outbox/create-outbox-store';
import { OutboxMessageEntity } from './outbox/outbox-message.entity';
import { ReliablePublisher } from './producing/reliable-publisher.service';
import { reliableMqEntities } from './reliable-mq.entities';
import { HalfMessageStore } from './transactions/half-message-store';

/** A table of the application's own, next to the framework's, as in a user's DataSource. */
@Entity({ name: 'app_order' })
class AppOrder {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id!: string;

  @Column({ type: 'int' })
  amount!: number;
}

type Kind = 'sqlite' | 'postgres' | 'mariadb';

/** An empty database of its own: a temp file, a PostgreSQL schema or a MariaDB database. */
interface Database {
  options(extra: Partial<DataSourceOptions>): DataSourceOptions;
  dispose(): Promise<void>;
}

async function createDatabase(kind: Kind): Promise<Database> {
  if (kind === 'sqlite') {
    const directory = mkdtempSync(join(tmpdir(), 'rmq-entities-'));
    return {
      options: (extra) =>
        ({ type: 'better-sqlite3', database: join(directory, 'app.sqlite'), ...extra }) as DataSourceOptions,
      dispose: async () => rmSync(directory, { recursive: true, force: true }),
    };
  }
  if (kind === 'postgres') {
    const schema = uniqueName('rmq_entities');
    await adminQuery({ type: 'postgres', url: POSTGRES_URL }, `CREATE SCHEMA "${schema}"`);
    return {
      options: (extra) => ({ type: 'postgres', url: POSTGRES_URL, schema, ...extra }) as DataSourceOptions,
      dispose: () => adminQuery({ type: 'postgres', url: POSTGRES_URL }, `DROP SCHEMA IF EXISTS "${schema}" CASCADE`),
    };
  }
  const database = uniqueName('rmq_entities');
  // A case-insensitive default, as many servers have: the framework's columns must not inherit it.
  await adminQuery(
    { type: 'mariadb', url: MARIADB_URL },
    `CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`,
  );
  const url = new URL(MARIADB_URL);
  url.pathname = `/${database}`;
  return {
    options: (extra) => ({ type: 'mariadb', url: url.toString(), ...extra }) as DataSourceOptions,
    dispose: () => adminQuery({ type: 'mariadb', url: MARIADB_URL }, `DROP DATABASE IF EXISTS \`${database}\``),
  };
}

async function adminQuery(options: DataSourceOptions, sql: string): Promise<void> {
  const admin = await new DataSource(options).initialize();
  try {
    await admin.query(sql);
  } finally {
    await admin.destroy();
  }
}

/** The statements `typeorm migration:generate` would write for this DataSource. */
async function pendingSchemaChanges(dataSource: DataSource): Promise<string[]> {
  const sql = await dataSource.driver.createSchemaBuilder().log();
  return sql.upQueries.map((query) => query.query);
}

const mentionsFrameworkTable = (query: string): boolean => /\brmq_(outbox|inbox|half_message)\b/.test(query);

function entitiesSuite(kind: Kind): void {
  let database: Database;
  const open: DataSource[] = [];

  async function boot(extra: Partial<DataSourceOptions> = {}): Promise<DataSource> {
    const dataSource = new DataSource(database.options({ entities: [...reliableMqEntities, AppOrder], ...extra }));
    open.push(dataSource);
    return dataSource.initialize();
  }

  async function close(dataSource: DataSource): Promise<void> {
    if (dataSource.isInitialized) await dataSource.destroy();
  }

  beforeEach(async () => {
    database = await createDatabase(kind);
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map(close));
    await database.dispose();
  });

  it('boots twice with synchronize: true, and the framework works on the tables it created', async () => {
    await close(await boot({ synchronize: true }));
    const dataSource = await boot({ synchronize: true });
    expect(await pendingSchemaChanges(dataSource)).toEqual([]);

    const publisher = new ReliablePublisher({ dataSource, transport: new FakeTransport(), producerGroup: 'orders' });
    try {
      const id = await publisher.transaction((manager) =>
        publisher.publish({ topic: 'order.created', key: 'Order-1', payload: { amount: 42 } }, { manager }),
      );
      const store = createOutboxStore(dataSource);
      const now = Date.now();
      const claimed = await store.claim({
        owner: 'relay-a',
        now,
        leaseUntil: now + 60_000,
        limit: 10,
        maxBytes: 1 << 20,
      });
      expect(claimed.map((row) => [row.id, row.key])).toEqual([[id, 'Order-1']]);
      expect(await store.markSent('relay-a', [claimed[0]!.seq], now)).toBe(1);
      const row = await dataSource.getRepository(OutboxMessageEntity).findOneByOrFail({ id });
      expect(row).toMatchObject({ id, key: 'Order-1', status: 'sent', attempts: 0, producerGroup: 'orders' });
      expect(typeof row.seq).toBe('number');
    } finally {
      publisher.close();
    }

    // Dedup keys that differ only in case or trailing spaces are distinct business keys.
    const inbox = dataSource.getRepository(InboxMessage);
    await inbox.insert(['k', 'K', 'k '].map((dedupKey) => ({ groupName: 'g', dedupKey, processedAt: 1 })));
    expect(await inbox.countBy({ groupName: 'g' })).toBe(3);

    const halves = new HalfMessageStore(dataSource);
    await halves.insert({
      txId: 'tx-1',
      messageId: 'msg-1',
      producerGroup: 'orders',
      topic: 'order.created',
      key: 'Order-1',
      tags: [],
      headers: {},
      payload: '{}',
      deliverAt: null,
      state: 'unresolved',
      checkCount: 0,
      nextCheckAt: 1,
      sentAt: 1,
    });
    expect(await halves.get('tx-1')).toMatchObject({ messageId: 'msg-1', state: 'unresolved', sentAt: 1 });
  });

  it('leaves the tables of the shipped migrations alone: the schema diff names only the application tables', async () => {
    const dataSource = await boot();
    await runReliableMqMigrations(dataSource);
    const changes = await pendingSchemaChanges(dataSource);
    expect(changes.filter(mentionsFrameworkTable)).toEqual([]);
    // The diff is not empty because it looked at nothing: the application's table is still to be created.
    expect(changes.some((query) => query.includes('app_order'))).toBe(true);
    await close(dataSource);

    // Later boots with synchronize on the migrated tables change nothing in them.
    for (let bootCount = 0; bootCount < 2; bootCount += 1) {
      const next = await boot({ synchronize: true });
      expect(await pendingSchemaChanges(next)).toEqual([]);
      await close(next);
    }
  });

  it('finds nothing to change after synchronize, and the migrations then apply on top of it', async () => {
    const dataSource = await boot({ synchronize: true });
    expect(await pendingSchemaChanges(dataSource)).toEqual([]);
    // A team that moves from synchronize to the migrations: they run, and the tables still match the entities.
    await runReliableMqMigrations(dataSource);
    expect(await pendingSchemaChanges(dataSource)).toEqual([]);
  });

  if (kind === 'sqlite') {
    it('keeps the rows and the seq high-water mark when the SQLite tables are rebuilt', async () => {
      const dataSource = await boot();
      const [rebuild, ...earlier] = reliableMqMigrations('better-sqlite3').reverse();
      await applyMigrations(dataSource, earlier.reverse());
      for (const id of ['a', 'b', 'c']) {
        await dataSource.query(
          `INSERT INTO rmq_outbox (id, producer_group, topic, headers, payload, next_attempt_at, created_at)
           VALUES (?, 'g', 't', '{}', 'null', 0, 0)`,
          [id],
        );
      }
      await dataSource.query(`DELETE FROM rmq_outbox WHERE id = 'c'`);
      await applyMigrations(dataSource, [rebuild!]);
      await dataSource.query(
        `INSERT INTO rmq_outbox (id, producer_group, topic, headers, payload, next_attempt_at, created_at)
         VALUES ('d', 'g', 't', '{}', 'null', 0, 0)`,
      );
      const rows = (await dataSource.query(`SELECT seq, id, status FROM rmq_outbox ORDER BY seq`)) as unknown[];
      expect(rows).toEqual([
        { seq: 1, id: 'a', status: 'pending' },
        { seq: 2, id: 'b', status: 'pending' },
        { seq: 4, id: 'd', status: 'pending' },
      ]);
      expect(await pendingSchemaChanges(dataSource)).toEqual([expect.stringContaining('app_order')]);
    });
  }

  if (kind === 'mariadb') {
    it('widens in place the TEXT columns an earlier synchronize gave the outbox, so no later diff drops them', async () => {
      const dataSource = await boot();
      const [widen, ...earlier] = reliableMqMigrations('mariadb').reverse();
      await applyMigrations(dataSource, earlier.reverse());
      // The column types the entity of earlier versions synchronized.
      await dataSource.query('ALTER TABLE rmq_outbox MODIFY headers text NOT NULL, MODIFY payload text NOT NULL');
      await dataSource.query(
        `INSERT INTO rmq_outbox (id, producer_group, topic, headers, payload, next_attempt_at, created_at)
         VALUES ('a', 'g', 't', '{"h":"1"}', '{"amount":42}', 0, 0)`,
      );
      expect(await pendingSchemaChanges(dataSource)).toContainEqual(expect.stringMatching(/DROP COLUMN `payload`/));
      await applyMigrations(dataSource, [widen!]);
      expect((await pendingSchemaChanges(dataSource)).filter(mentionsFrameworkTable)).toEqual([]);
      expect(await dataSource.query('SELECT headers, payload FROM rmq_outbox')).toEqual([
        { headers: '{"h":"1"}', payload: '{"amount":42}' },
      ]);
    });
  }
}

describe('reliableMqEntities on SQLite', () => entitiesSuite('sqlite'));
describeWithService('postgres', 'reliableMqEntities on PostgreSQL', () => entitiesSuite('postgres'));
describeWithService('mariadb', 'reliableMqEntities on MariaDB', () => entitiesSuite('mariadb'));
