import { UnknownTopicError } from '@reliable-mq/engine';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MARIADB_URL, POSTGRES_URL, describeWithService, uniqueName } from '../../../../test/support/services';
import { ConfigurationError } from '../errors/configuration.error';
import { InvalidMessageError } from '../errors/invalid-message.error';
import { NoActiveTransactionError } from '../errors/no-active-transaction.error';
import { OutboxRelay } from '../outbox/outbox-relay';
import {
  FakeTransport,
  MemoryLogger,
  TestDatabase,
  waitFor,
  type TestDatabaseKind,
} from '../../../../test/support/outbox-test-kit';
import { ReliablePublisher } from './reliable-publisher.service';

const URLS = { postgres: POSTGRES_URL, mariadb: MARIADB_URL };

function publisherSuite(kind: TestDatabaseKind): void {
  let db: TestDatabase;
  let transport: FakeTransport;
  let wakes: Array<{ committed: boolean }>;
  let checks: Array<Promise<void>>;
  let publisher: ReliablePublisher;

  /** Whether the outbox rows are visible outside the writing transaction, i.e. committed. */
  async function committedCount(): Promise<number> {
    if (kind === 'sqlite') {
      // One shared connection: count through a second one, which sees committed data only.
      const other = await db.open();
      try {
        const [row] = (await other.query('SELECT COUNT(*) AS n FROM "rmq_outbox"')) as [{ n: number }];
        return Number(row.n);
      } finally {
        await other.destroy();
      }
    }
    return (await db.rows()).length;
  }

  beforeEach(async () => {
    db = await TestDatabase.create(kind, URLS, uniqueName('rmq_pub'));
    transport = new FakeTransport();
    wakes = [];
    checks = [];
    publisher = new ReliablePublisher({
      dataSource: db.dataSource,
      transport,
      producerGroup: 'order-service',
      wakeRelay: () => {
        // Recorded synchronously so the check reflects the moment of the wake.
        const entry = { committed: false };
        wakes.push(entry);
        checks.push(
          committedCount().then((n) => {
            entry.committed = n > 0;
          }),
        );
      },
      sendRetry: { baseDelayMs: 1, maxDelayMs: 2 },
    });
  });

  afterEach(async () => {
    await Promise.allSettled(checks);
    publisher.close();
    await db.dispose();
  });

  it('refuses a manager without an active transaction', async () => {
    await expect(
      publisher.publish({ topic: 'order.created', payload: {} }, { manager: db.dataSource.manager }),
    ).rejects.toBeInstanceOf(NoActiveTransactionError);
    const runner = db.dataSource.createQueryRunner();
    try {
      await expect(
        publisher.publish({ topic: 'order.created', payload: {} }, { manager: runner.manager }),
      ).rejects.toThrow(/needs the EntityManager of an active transaction/);
    } finally {
      await runner.release();
    }
    await expect(
      publisher.publish({ topic: 'order.created', payload: {} }, undefined as unknown as { manager: never }),
    ).rejects.toBeInstanceOf(NoActiveTransactionError);
    expect(await db.rows()).toHaveLength(0);
  });

  it("writes the rows in the caller's transaction and wakes the relay only after the commit", async () => {
    const ids = await db.dataSource.transaction(async (manager) => {
      const written = await publisher.publish(
        [
          { topic: 'order.created', key: 'order-1', tags: ['eu'], headers: { traceparent: 't-1' }, payload: { id: 1 } },
          { topic: 'order.created', payload: { id: 2 }, delayMs: 60_000 },
        ],
        { manager },
      );
      // Visible inside the transaction, invisible outside it.
      const inside = (await manager.query(
        `SELECT COUNT(*) AS n FROM ${kind === 'mariadb' ? '`rmq_outbox`' : '"rmq_outbox"'}`,
      )) as [{ n: number }];
      expect(Number(inside[0].n)).toBe(2);
      expect(await committedCount()).toBe(0);
      expect(wakes).toHaveLength(0);
      return written;
    });
    expect(ids).toHaveLength(2);
    await waitFor(() => wakes.length === 1 && wakes[0]!.committed, 5_000, 'a wake after the commit');

    const rows = await db.rows();
    expect(rows.map((row) => row.id)).toEqual(ids);
    expect(rows[0]).toMatchObject({
      producerGroup: 'order-service',
      topic: 'order.created',
      key: 'order-1',
      tags: '["eu"]',
      headers: '{"traceparent":"t-1"}',
      payload: '{"id":1}',
      status: 'pending',
      attempts: 0,
      deliverAt: null,
      sentAt: null,
      leaseOwner: null,
    });
    expect(rows[1]!.key).toBeNull();
    expect(rows[1]!.deliverAt).toBeGreaterThanOrEqual(rows[1]!.createdAt + 60_000);
    expect(rows[1]!.nextAttemptAt).toBe(rows[1]!.createdAt);
    expect(rows[1]!.seq).toBeGreaterThan(rows[0]!.seq);
    expect(transport.calls).toHaveLength(0);
  });

  it('returns a single id for a single message', async () => {
    const id = await publisher.transaction((manager) =>
      publisher.publish({ topic: 'order.created', payload: 1 }, { manager }),
    );
    expect(typeof id).toBe('string');
    expect((await db.rows())[0]!.id).toBe(id);
    await waitFor(() => wakes.length === 1, 5_000, 'the wake of transaction()');
  });

  it('writes nothing and wakes nothing when the transaction rolls back, and nothing is ever sent', async () => {
    const relay = new OutboxRelay({
      dataSource: db.dataSource,
      transport,
      logger: new MemoryLogger(),
      options: { sweepCron: '* * * * * *' },
    });
    relay.start();
    try {
      await expect(
        db.dataSource.transaction(async (manager) => {
          await publisher.publish({ topic: 'order.created', key: 'k', payload: { id: 1 } }, { manager });
          // The relay runs while the row exists, uncommitted.
          relay.wake();
          await new Promise((resolve) => setTimeout(resolve, 150));
          throw new Error('business rule failed');
        }),
      ).rejects.toThrow('business rule failed');
      await relay.flush();
      await new Promise((resolve) => setTimeout(resolve, 1_200));
    } finally {
      await relay.stop();
    }
    expect(await db.rows()).toHaveLength(0);
    expect(wakes).toHaveLength(0);
    expect(transport.calls).toHaveLength(0);
  });

  it('validates every message before writing any', async () => {
    await db.dataSource.transaction(async (manager) => {
      await expect(
        publisher.publish(
          [
            { topic: 'order.created', payload: 1 },
            { topic: 'order created', payload: 2 },
          ],
          { manager },
        ),
      ).rejects.toBeInstanceOf(InvalidMessageError);
      // The transaction is still usable and holds no row.
      const rows = (await manager.query(
        `SELECT COUNT(*) AS n FROM ${kind === 'mariadb' ? '`rmq_outbox`' : '"rmq_outbox"'}`,
      )) as [{ n: number }];
      expect(Number(rows[0].n)).toBe(0);
    });
    expect(await db.rows()).toHaveLength(0);
    expect(wakes).toHaveLength(0);
  });

  it('does not wake when only a savepoint is released, but after the outer commit', async () => {
    const runner = db.dataSource.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    try {
      await runner.startTransaction();
      await publisher.publish({ topic: 'order.created', payload: 1 }, { manager: runner.manager });
      await runner.commitTransaction();
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(wakes).toHaveLength(0);
      await runner.commitTransaction();
    } finally {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      await runner.release();
    }
    await waitFor(() => wakes.length === 1 && wakes[0]!.committed, 5_000, 'a wake after the outer commit');
  });

  it('wakes through the commit subscriber even after the DataSource re-initialised its subscribers', async () => {
    // initialize() replaces the subscribers array; the publisher re-joins on its next publish.
    db.dataSource.subscribers.splice(0, db.dataSource.subscribers.length);
    await db.dataSource.transaction((manager) =>
      publisher.publish({ topic: 'order.created', payload: 1 }, { manager }),
    );
    await waitFor(() => wakes.length === 1, 5_000, 'a wake');
    publisher.close();
    expect(db.dataSource.subscribers).toHaveLength(0);
  });
}

describe('ReliablePublisher on SQLite', () => publisherSuite('sqlite'));
describeWithService('postgres', 'ReliablePublisher on PostgreSQL', () => publisherSuite('postgres'));
describeWithService('mariadb', 'ReliablePublisher on MariaDB', () => publisherSuite('mariadb'));

describe('ReliablePublisher.send', () => {
  function make(transport: FakeTransport): ReliablePublisher {
    return new ReliablePublisher({ transport, producerGroup: 'svc', sendRetry: { baseDelayMs: 5, maxDelayMs: 10 } });
  }

  it('resolves after the confirm, retrying a failed send with the same ids', async () => {
    const transport = new FakeTransport();
    transport.behaviour = (_batch, call) => {
      if (call < 2) throw new Error('connection reset');
    };
    const ids = await make(transport).send([
      { topic: 'a', payload: 1 },
      { topic: 'b', key: 'k', payload: 2 },
    ]);
    expect(transport.calls.map((call) => call.ok)).toEqual([false, false, true]);
    expect(transport.calls.every((call) => call.ids.join() === ids.join())).toBe(true);
    expect(transport.calls[2]!.messages[1]).toMatchObject({ topic: 'b', key: 'k' });
  });

  it('gives up after three attempts with the last error', async () => {
    const transport = new FakeTransport();
    transport.behaviour = (_batch, call) => {
      throw new Error(`refused ${call}`);
    };
    await expect(make(transport).send({ topic: 'a', payload: 1 })).rejects.toThrow('refused 2');
    expect(transport.calls).toHaveLength(3);
  });

  it('does not retry an error a retry cannot fix', async () => {
    const transport = new FakeTransport();
    transport.behaviour = () => {
      throw new UnknownTopicError('a');
    };
    await expect(make(transport).send({ topic: 'a', payload: 1 })).rejects.toBeInstanceOf(UnknownTopicError);
    expect(transport.calls).toHaveLength(1);
  });

  it('validates before sending anything', async () => {
    const transport = new FakeTransport();
    await expect(make(transport).send({ topic: '', payload: 1 })).rejects.toBeInstanceOf(InvalidMessageError);
    expect(transport.calls).toHaveLength(0);
  });

  it('refuses a bad producer group and transaction() without a DataSource', async () => {
    expect(() => new ReliablePublisher({ transport: new FakeTransport(), producerGroup: 'bad group' })).toThrow(
      ConfigurationError,
    );
    await expect(make(new FakeTransport()).transaction(async () => 1)).rejects.toBeInstanceOf(ConfigurationError);
  });
});
