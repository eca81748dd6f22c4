import { randomUUID } from 'node:crypto';
import type { DataSource, EntityManager } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithService } from '../../../../test/support/services';
import {
  openInboxTestDatabase,
  type InboxTestDatabase,
  type InboxTestDatabaseKind,
} from '../../test/inbox-test-databases';
import { ConfigurationError } from '../errors/configuration.error';
import { DbDedupStore } from './db-dedup.store';

describe('DbDedupStore batching on SQLite', () => registerBatchCases('sqlite'));
describeWithService('postgres', 'DbDedupStore batching on PostgreSQL', () => registerBatchCases('postgres'));
describeWithService('mariadb', 'DbDedupStore batching on MariaDB', () => registerBatchCases('mariadb'));

function registerBatchCases(kind: InboxTestDatabaseKind): void {
  let database: InboxTestDatabase;
  let table: string;

  beforeAll(async () => {
    database = await openInboxTestDatabase(kind);
    table = `charges_${randomUUID().slice(0, 8)}`;
    await database.dataSource.query(`CREATE TABLE ${table} (id varchar(64) PRIMARY KEY, amount integer NOT NULL)`);
  }, 60_000);
  afterAll(async () => {
    await database?.dataSource.query(`DROP TABLE ${table}`).catch(() => undefined);
    await database?.dispose();
  });

  const charge = async (manager: EntityManager | undefined, id: string): Promise<void> => {
    if (!manager) throw new Error('no transaction manager');
    await manager.query(`INSERT INTO ${table} (id, amount) VALUES (${param(kind, 1)}, 1)`, [id]);
  };
  const charged = async (prefix: string): Promise<string[]> =>
    ((await database.dataSource.query(`SELECT id FROM ${table} ORDER BY id`)) as Array<{ id: string }>)
      .map((row) => row.id)
      .filter((id) => id.startsWith(prefix));

  /** Counts the transactions the store opens on the DataSource. */
  const countTransactions = (dataSource: DataSource): { count: () => number; restore: () => void } => {
    const original = dataSource.transaction.bind(dataSource);
    let count = 0;
    (dataSource as { transaction: unknown }).transaction = (...args: unknown[]) => {
      count += 1;
      return (original as (...a: unknown[]) => unknown)(...args);
    };
    return { count: () => count, restore: () => ((dataSource as { transaction: unknown }).transaction = original) };
  };

  it('runs concurrent messages in far fewer transactions, each message with its row and its effects once', async () => {
    const prefix = `a-${randomUUID().slice(0, 6)}-`;
    const store = new DbDedupStore(database.dataSource, { batch: { maxMessages: 16, maxInFlight: 2 } });
    const transactions = countTransactions(database.dataSource);
    try {
      const ids = Array.from({ length: 96 }, (_, i) => `${prefix}${String(i).padStart(3, '0')}`);
      const outcomes = await Promise.all(ids.map((id) => store.execute('billing', id, (m) => charge(m, id))));
      expect(outcomes).toEqual(ids.map(() => 'processed'));
      expect(await charged(prefix)).toEqual(ids);
      expect(transactions.count()).toBeLessThanOrEqual(96 / 4);
      // Delivered again: every one is a duplicate, no work runs.
      let ran = 0;
      const again = await Promise.all(ids.map((id) => store.execute('billing', id, async () => void (ran += 1))));
      expect(again).toEqual(ids.map(() => 'duplicate'));
      expect(ran).toBe(0);
      expect(store.counters).toMatchObject({ processed: 96, duplicates: 96 });
    } finally {
      transactions.restore();
      await store.close();
    }
  });

  it('gathers the messages handed out in one turn into one transaction, the first of them included', async () => {
    const prefix = `g-${randomUUID().slice(0, 6)}-`;
    const store = new DbDedupStore(database.dataSource, { batch: { maxMessages: 32, maxInFlight: 2 } });
    const transactions = countTransactions(database.dataSource);
    try {
      // As a transport refilling freed prefetch slots: every call in one turn, each from its own microtask.
      const ids = Array.from({ length: 20 }, (_, i) => `${prefix}${String(i).padStart(2, '0')}`);
      const outcomes = await Promise.all(
        ids.map((id) => Promise.resolve().then(() => store.execute('billing', id, (m) => charge(m, id)))),
      );
      expect(outcomes).toEqual(ids.map(() => 'processed'));
      expect(await charged(prefix)).toEqual(ids);
      expect(transactions.count()).toBe(1);
    } finally {
      transactions.restore();
      await store.close();
    }
  });

  it('fails a failing message alone: the others of its batch commit once, the failing one leaves nothing', async () => {
    const prefix = `b-${randomUUID().slice(0, 6)}-`;
    const store = new DbDedupStore(database.dataSource, { batch: { maxMessages: 32, maxInFlight: 1 } });
    const runs = new Map<string, number>();
    const failure = new Error('card declined');
    try {
      // All 21 arrive in one turn and share one batch.
      const first = store.execute('billing', `${prefix}first`, (m) => charge(m, `${prefix}first`));
      const ids = Array.from({ length: 20 }, (_, i) => `${prefix}${String(i).padStart(2, '0')}`);
      const results = await Promise.allSettled(
        ids.map((id) =>
          store.execute('billing', id, async (manager) => {
            runs.set(id, (runs.get(id) ?? 0) + 1);
            await charge(manager, id);
            if (id.endsWith('07')) throw failure;
          }),
        ),
      );
      await first;
      results.forEach((result, i) => {
        if (ids[i]!.endsWith('07')) expect(result).toEqual({ status: 'rejected', reason: failure });
        else expect(result).toEqual({ status: 'fulfilled', value: 'processed' });
      });
      expect(await charged(prefix)).toEqual([...ids.filter((id) => !id.endsWith('07')), `${prefix}first`].sort());
      // The batch ran, failed and rolled back; then each message ran alone: twice each, once kept.
      expect(runs.get(`${prefix}07`)).toBe(2);
      expect(runs.get(`${prefix}00`)).toBe(2);
      // The failing one left no inbox row: its redelivery runs it again.
      await expect(store.execute('billing', `${prefix}07`, (m) => charge(m, `${prefix}07`))).resolves.toBe('processed');
    } finally {
      await store.close();
    }
  });

  it('treats the same key twice in one batch as one message and one duplicate', async () => {
    const prefix = `c-${randomUUID().slice(0, 6)}-`;
    const store = new DbDedupStore(database.dataSource, { batch: { maxMessages: 32, maxInFlight: 1 } });
    let ran = 0;
    try {
      const blocker = store.execute('billing', `${prefix}x`, async () => undefined);
      const twice = await Promise.all(
        [1, 2].map(() =>
          store.execute('billing', `${prefix}same`, async (m) => {
            ran += 1;
            await charge(m, `${prefix}same`);
          }),
        ),
      );
      await blocker;
      expect([...twice].sort()).toEqual(['duplicate', 'processed']);
      expect(ran).toBe(1);
      expect(await charged(prefix)).toEqual([`${prefix}same`]);
    } finally {
      await store.close();
    }
  });

  it('refuses batch options out of range with the option named', () => {
    expect(() => new DbDedupStore(database.dataSource, { batch: { maxMessages: 0 } })).toThrow(ConfigurationError);
    expect(() => new DbDedupStore(database.dataSource, { batch: { maxInFlight: 1.5 } })).toThrow(
      /dedup.batch.maxInFlight must be an integer from 1 to 10,000; got 1.5/,
    );
  });
}

/** The driver's placeholder for the n-th parameter. */
function param(kind: InboxTestDatabaseKind, n: number): string {
  return kind === 'postgres' ? `$${n}` : '?';
}
