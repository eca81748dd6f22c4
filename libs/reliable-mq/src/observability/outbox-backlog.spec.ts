import { afterEach, describe, expect, it } from 'vitest';
import { ReliablePublisher } from '../producing/reliable-publisher.service';
import { FakeTransport, TestDatabase, type TestDatabaseKind } from '../../../../test/support/outbox-test-kit';
import { MARIADB_URL, POSTGRES_URL, describeWithService, uniqueName } from '../../../../test/support/services';
import { OutboxBacklogReader } from './outbox-backlog';

const URLS = { postgres: POSTGRES_URL, mariadb: MARIADB_URL };

function backlogSuite(kind: TestDatabaseKind): void {
  let db: TestDatabase | undefined;
  let publisher: ReliablePublisher | undefined;
  afterEach(async () => {
    publisher?.close();
    await db?.dispose();
    db = undefined;
  });

  async function commit(count: number, topic = 'orders'): Promise<void> {
    await publisher!.transaction((manager) =>
      publisher!.publish(
        Array.from({ length: count }, (_, index) => ({ topic, key: `k${index}`, payload: { index } })),
        { manager },
      ),
    );
  }

  it('counts pending and dead rows up to its limit, and dates the oldest pending row', async () => {
    db = await TestDatabase.create(kind, URLS, uniqueName('rmq_backlog'));
    publisher = new ReliablePublisher({
      dataSource: db.dataSource,
      transport: new FakeTransport('fake'),
      producerGroup: 'order-service',
    });
    const reader = new OutboxBacklogReader(db.dataSource, 5);
    expect(await reader.read()).toEqual({ pending: 0, dead: 0, oldestPendingCreatedAt: null, countLimit: 5 });

    const before = Date.now();
    await commit(3);
    const three = await reader.read();
    expect(three).toMatchObject({ pending: 3, dead: 0 });
    expect(three.oldestPendingCreatedAt).toBeGreaterThanOrEqual(before - 1);
    expect(three.oldestPendingCreatedAt).toBeLessThanOrEqual(Date.now());

    await commit(4);
    const rows = await db.rows();
    const [first, second] = rows;
    // The oldest row sent and the next one dead: the oldest pending is now the third, and the counts follow.
    await db.exec(`UPDATE {t} SET status = 'sent', sent_at = created_at WHERE seq = ${first!.seq}`);
    await db.exec(`UPDATE {t} SET status = 'dead' WHERE seq = ${second!.seq}`);
    await db.exec(`UPDATE {t} SET created_at = 12345 WHERE seq = ${rows[2]!.seq}`);
    expect(await reader.read()).toEqual({ pending: 5, dead: 1, oldestPendingCreatedAt: 12345, countLimit: 5 });

    await commit(10);
    expect(await reader.read()).toMatchObject({ pending: 5, dead: 1, oldestPendingCreatedAt: 12345 });
    expect((await new OutboxBacklogReader(db.dataSource).read()).pending).toBe(15);
  });
}

describe('OutboxBacklogReader on SQLite', () => {
  backlogSuite('sqlite');

  it('does not count rows of a transaction still open on the shared connection', async () => {
    const db = await TestDatabase.create('sqlite', URLS, uniqueName('rmq_backlog'));
    const publisher = new ReliablePublisher({
      dataSource: db.dataSource,
      transport: new FakeTransport('fake'),
      producerGroup: 'order-service',
    });
    try {
      const reader = new OutboxBacklogReader(db.dataSource);
      let read: Promise<unknown> | undefined;
      await publisher.transaction(async (manager) => {
        await publisher.publish({ topic: 'orders', key: 'k', payload: {} }, { manager });
        read = reader.read();
        // The read waits for the connection to leave the transaction, then sees what committed.
        await new Promise((resolve) => setTimeout(resolve, 30));
      });
      expect(await read).toMatchObject({ pending: 1 });
    } finally {
      publisher.close();
      await db.dispose();
    }
  });
});
describeWithService('postgres', 'OutboxBacklogReader on PostgreSQL', () => backlogSuite('postgres'));
describeWithService('mariadb', 'OutboxBacklogReader on MariaDB', () => backlogSuite('mariadb'));
