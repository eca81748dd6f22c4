import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithService, uniqueName } from '../../../../test/support/services';
import { waitUntil } from '../../../../test/support/wait-until';
import { ConfigurationError } from '../errors/configuration.error';
import { DbDedupStore } from './db-dedup.store';
import { createDedupStore } from './dedup-store.factory';
import { InboxMessage } from './inbox-message.entity';
import { openInboxTestDatabase, type InboxTestDatabase } from '../../test/inbox-test-databases';

const DAY = 24 * 3_600_000;
const NOW = Date.UTC(2026, 10, 1);

interface Fixture {
  dataSource(): DataSource;
}

/** Inserts `count` inbox rows of one group, processed at `processedAt`, in multi-row statements. */
async function seedRows(dataSource: DataSource, group: string, count: number, processedAt: number): Promise<void> {
  const repository = dataSource.getRepository(InboxMessage);
  for (let start = 0; start < count; start += 200) {
    const rows = [];
    for (let index = start; index < Math.min(count, start + 200); index += 1) {
      rows.push({ groupName: group, dedupKey: `key-${index}`, processedAt });
    }
    await repository.insert(rows);
  }
}

async function keysOf(dataSource: DataSource, group: string): Promise<number> {
  return dataSource.getRepository(InboxMessage).countBy({ groupName: group });
}

function registerPruningCases(fixture: Fixture): void {
  it('deletes rows older than the retention in bounded chunks and keeps newer ones', async () => {
    const dataSource = fixture.dataSource();
    const group = uniqueName('prune');
    await seedRows(dataSource, group, 2_345, NOW - 8 * DAY);
    await seedRows(dataSource, `${group}-new`, 10, NOW - DAY);
    const store = new DbDedupStore(dataSource, { retentionMs: 7 * DAY });
    try {
      await expect(store.prune(NOW)).resolves.toBeGreaterThanOrEqual(2_345);
      expect(await keysOf(dataSource, group)).toBe(0);
      expect(await keysOf(dataSource, `${group}-new`)).toBe(10);
    } finally {
      await store.close();
    }
  });

  it('runs a handler again once its row is pruned, and still refuses a duplicate inside the window', async () => {
    const dataSource = fixture.dataSource();
    const group = uniqueName('window');
    const store = new DbDedupStore(dataSource, { retentionMs: 60_000 });
    let runs = 0;
    const work = async (): Promise<void> => {
      runs += 1;
    };
    try {
      await expect(store.execute(group, 'order-1', work)).resolves.toBe('processed');
      await expect(store.execute(group, 'order-1', work)).resolves.toBe('duplicate');
      // The row is inside the window: a pass now keeps it.
      await store.prune(Date.now());
      await expect(store.execute(group, 'order-1', work)).resolves.toBe('duplicate');
      // Two minutes later the row is out of the window and goes; the redelivery is handled again.
      await store.prune(Date.now() + 120_000);
      await expect(store.execute(group, 'order-1', work)).resolves.toBe('processed');
      expect(runs).toBe(2);
    } finally {
      await store.close();
    }
  });

  it('keeps every row when the retention is null', async () => {
    const dataSource = fixture.dataSource();
    const group = uniqueName('forever');
    await seedRows(dataSource, group, 5, NOW - 400 * DAY);
    const store = new DbDedupStore(dataSource, { retentionMs: null });
    try {
      await expect(store.prune(NOW)).resolves.toBe(0);
      expect(await keysOf(dataSource, group)).toBe(5);
    } finally {
      await store.close();
    }
  });

  it('prunes by itself every pruneIntervalMs, and stops when closed', async () => {
    const dataSource = fixture.dataSource();
    const group = uniqueName('timer');
    const store = new DbDedupStore(dataSource, { retentionMs: 7 * DAY, pruneIntervalMs: 50 });
    try {
      await seedRows(dataSource, group, 30, Date.now() - 8 * DAY);
      await waitUntil(async () => (await keysOf(dataSource, group)) === 0, 'the timer to prune old rows', 5_000);
    } finally {
      await store.close();
    }
    await seedRows(dataSource, `${group}-after`, 3, Date.now() - 8 * DAY);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(await keysOf(dataSource, `${group}-after`)).toBe(3);
  });
}

describe('DbDedupStore pruning on SQLite', () => {
  let database: InboxTestDatabase;
  beforeAll(async () => {
    database = await openInboxTestDatabase('sqlite');
  });
  afterAll(async () => {
    await database?.dispose();
  });
  const dataSource = (): DataSource => database.dataSource;

  registerPruningCases({ dataSource });

  it("waits for a running handler's transaction, so the handler's rollback cannot undo the pass", async () => {
    const group = uniqueName('lock');
    await seedRows(dataSource(), group, 20, NOW - 30 * DAY);
    const store = new DbDedupStore(dataSource(), { retentionMs: 7 * DAY });
    try {
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let started!: () => void;
      const handlerStarted = new Promise<void>((resolve) => (started = resolve));
      const handler = store.execute(group, 'rolls-back', async () => {
        started();
        await held;
        throw new Error('handler failed');
      });
      await handlerStarted;
      let pruned: number | undefined;
      const pass = store.prune(NOW).then((count) => (pruned = count));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(pruned).toBeUndefined();
      release();
      await expect(handler).rejects.toThrow('handler failed');
      await pass;
      expect(pruned).toBe(20);
      expect(await keysOf(dataSource(), group)).toBe(0);
    } finally {
      await store.close();
    }
  });
});

for (const kind of ['postgres', 'mariadb'] as const) {
  describeWithService(kind, `DbDedupStore pruning on ${kind === 'postgres' ? 'PostgreSQL' : 'MariaDB'}`, () => {
    let database: InboxTestDatabase;
    beforeAll(async () => {
      database = await openInboxTestDatabase(kind);
    });
    afterAll(async () => {
      await database?.dispose();
    });
    registerPruningCases({ dataSource: () => database.dataSource });
  });
}

describe('dedup.retentionMs and dedup.pruneIntervalMs', () => {
  const fakeDataSource = { options: { type: 'postgres' } } as unknown as DataSource;

  it('refuses a retention that is not a positive duration, naming the option and the accepted forms', () => {
    for (const retentionMs of ['soon', -1, 0, '0s'] as const) {
      expect(() => createDedupStore({ store: 'db', retentionMs }, fakeDataSource)).toThrow(ConfigurationError);
      expect(() => createDedupStore({ store: 'db', retentionMs }, fakeDataSource)).toThrow(/dedup\.retentionMs/);
    }
    expect(() => createDedupStore({ store: 'db', pruneIntervalMs: 'often' }, fakeDataSource)).toThrow(
      /dedup\.pruneIntervalMs/,
    );
  });

  it('reads durations and null, and defaults to 7 days', async () => {
    const weekly = createDedupStore({ store: 'db' }, fakeDataSource) as DbDedupStore;
    const hourly = createDedupStore({ store: 'db', retentionMs: '1h' }, fakeDataSource) as DbDedupStore;
    const forever = createDedupStore({ store: 'db', retentionMs: null }, fakeDataSource) as DbDedupStore;
    try {
      expect(weekly.retentionMs).toBe(7 * DAY);
      expect(hourly.retentionMs).toBe(3_600_000);
      expect(forever.retentionMs).toBeNull();
    } finally {
      await Promise.all([weekly.close(), hourly.close(), forever.close()]);
    }
  });
});
