import { QueryFailedError } from 'typeorm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MARIADB_URL, POSTGRES_URL, describeWithService, uniqueName } from '../../../../test/support/services';
import { MessageSerializer } from '../producing/message-serializer';
import { insertOutboxRows } from './insert-outbox-rows';
import { TestDatabase, type TestDatabaseKind } from '../../../../test/support/outbox-test-kit';

const URLS = { postgres: POSTGRES_URL, mariadb: MARIADB_URL };
const NOW = 1_700_000_000_000;
const serializer = new MessageSerializer({ now: () => NOW });

const messages = (count: number, from = 0) =>
  serializer.serializeAll(
    Array.from({ length: count }, (_, i) => ({
      topic: 'order.created',
      key: `order-${from + i}`,
      tags: i % 2 === 0 ? ['eu'] : undefined,
      headers: { n: String(from + i) },
      payload: { n: from + i, note: 'é' },
      delayMs: i === 0 ? 5_000 : undefined,
    })),
  );

function insertSuite(kind: TestDatabaseKind): void {
  let db: TestDatabase;

  beforeEach(async () => {
    db = await TestDatabase.create(kind, URLS, uniqueName('rmq_ins'));
  });

  afterEach(async () => {
    await db.dispose();
  });

  it('writes one row per message with every column, in one statement or in chunks of 500', async () => {
    for (const count of [1, 3, 1_201]) {
      const batch = messages(count, 10_000 * count);
      await db.dataSource.transaction(async (manager) => {
        await insertOutboxRows(manager.queryRunner!, batch, 'order-service', NOW);
      });
    }
    const rows = await db.rows();
    expect(rows).toHaveLength(1 + 3 + 1_201);
    const byId = new Map(rows.map((row) => [row.id, row]));
    const batch = messages(3, 30_000);
    // Ids are generated: compare the one written under the same key instead.
    const written = rows.find((row) => row.key === batch[0]!.key)!;
    expect(written).toMatchObject({
      producerGroup: 'order-service',
      topic: 'order.created',
      tags: '["eu"]',
      headers: '{"n":"30000"}',
      payload: '{"n":30000,"note":"é"}',
      status: 'pending',
      attempts: 0,
      nextAttemptAt: NOW,
      deliverAt: NOW + 5_000,
      createdAt: NOW,
    });
    expect(rows.find((row) => row.key === batch[1]!.key)).toMatchObject({ tags: null, deliverAt: null });
    expect(byId.size).toBe(rows.length);
  });

  it('rolls back with the business transaction', async () => {
    await expect(
      db.dataSource.transaction(async (manager) => {
        await insertOutboxRows(manager.queryRunner!, messages(2), 'order-service', NOW);
        throw new Error('business rule failed');
      }),
    ).rejects.toThrow('business rule failed');
    expect(await db.rows()).toHaveLength(0);
  });

  it("reports a refused row as TypeORM's QueryFailedError naming the statement, and writes nothing of the batch", async () => {
    const [first] = messages(1);
    const duplicate = [first!, { ...first! }];
    const error = await db.dataSource
      .transaction(async (manager) => {
        await insertOutboxRows(manager.queryRunner!, duplicate, 'order-service', NOW);
      })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(QueryFailedError);
    expect((error as QueryFailedError).query).toMatch(/^INSERT INTO .*rmq_outbox/);
    expect(await db.rows()).toHaveLength(0);
  });

  it('keeps working after the DataSource is destroyed and initialised again', async () => {
    await db.dataSource.transaction(async (manager) => {
      await insertOutboxRows(manager.queryRunner!, messages(1), 'order-service', NOW);
    });
    await db.dataSource.destroy();
    await db.dataSource.initialize();
    await db.dataSource.transaction(async (manager) => {
      await insertOutboxRows(manager.queryRunner!, messages(1, 1), 'order-service', NOW);
    });
    expect(await db.rows()).toHaveLength(2);
  });
}

describe('insertOutboxRows on SQLite', () => insertSuite('sqlite'));
describeWithService('postgres', 'insertOutboxRows on PostgreSQL', () => insertSuite('postgres'));
describeWithService('mariadb', 'insertOutboxRows on MariaDB', () => insertSuite('mariadb'));
