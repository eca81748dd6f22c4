import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { afterEach, describe, expect, it } from 'vitest';
import { runReliableMqMigrations } from '../migrations';
import { EmbeddedTransport } from '../transport/embedded.transport';
import { ReliablePublisher } from '../producing/reliable-publisher.service';
import { reliableMqEntities } from '../reliable-mq.entities';
import { DbDedupStore } from './db-dedup.store';
import { SerialLock, singleConnectionLockFor } from './serial-lock';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('SerialLock', () => {
  it('runs tasks one at a time in call order and lets a task re-enter without waiting for itself', async () => {
    const lock = new SerialLock();
    const events: string[] = [];
    const task = (name: string, ms: number) => async () => {
      events.push(`start ${name}`);
      await sleep(ms);
      events.push(`end ${name}`);
    };
    const nested = lock.run(async () => {
      events.push('start outer');
      await lock.run(task('inner', 5));
      events.push('end outer');
    });
    await Promise.all([nested, lock.run(task('second', 1))]);
    expect(events).toEqual(['start outer', 'start inner', 'end inner', 'end outer', 'start second', 'end second']);
  });

  it('lets the event loop turn during a chain of tasks that never waits for I/O', async () => {
    const lock = new SerialLock(5);
    let ticks = 0;
    const ticker = setInterval(() => (ticks += 1), 1);
    // A task asked for by a timer, as the relay's are: it must run while the chain goes on, not after it.
    let askedByTimerRanAt: number | undefined;
    setTimeout(() => {
      void lock.run(async () => {
        askedByTimerRanAt = Date.now();
      });
    }, 20);
    const start = Date.now();
    let chained = 0;
    while (Date.now() - start < 300) {
      await lock.run(async () => {
        chained += 1;
      });
    }
    const end = Date.now();
    clearInterval(ticker);
    expect(chained).toBeGreaterThan(1000);
    expect(ticks).toBeGreaterThanOrEqual(5);
    expect(askedByTimerRanAt).toBeDefined();
    expect(askedByTimerRanAt!).toBeLessThan(end);
  });

  it('keeps running after a task fails', async () => {
    const lock = new SerialLock();
    await expect(lock.run(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(lock.run(async () => 42)).resolves.toBe(42);
  });
});

describe('transactions on one SQLite connection', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(): Promise<{ dataSource: DataSource; publisher: ReliablePublisher; dedup: DbDedupStore }> {
    const dir = mkdtempSync(join(tmpdir(), 'rmq-lock-'));
    const dataSource = new DataSource({
      type: 'better-sqlite3',
      database: join(dir, 'db.sqlite'),
      entities: reliableMqEntities,
    });
    await dataSource.initialize();
    await runReliableMqMigrations(dataSource);
    await dataSource.query('CREATE TABLE orders (id TEXT PRIMARY KEY)');
    const transport = new EmbeddedTransport({
      kind: 'embedded',
      dataDir: join(dir, 'broker'),
      engine: { minFreeDiskBytes: 0 },
    });
    const publisher = new ReliablePublisher({ dataSource, transport, producerGroup: 'orders' });
    cleanups.push(async () => {
      publisher.close();
      await dataSource.destroy();
      rmSync(dir, { recursive: true, force: true });
    });
    return { dataSource, publisher, dedup: new DbDedupStore(dataSource) };
  }

  it('shares one lock per SQLite DataSource and none for pooled drivers', async () => {
    const { dataSource } = await setup();
    expect(singleConnectionLockFor(dataSource)).toBe(singleConnectionLockFor(dataSource));
    const pg = new DataSource({ type: 'postgres' });
    expect(singleConnectionLockFor(pg)).toBeUndefined();
  });

  it('a handler transaction that rolls back does not take an overlapping business commit with it', async () => {
    const { dataSource, publisher, dedup } = await setup();
    const failing = dedup.execute('g', 'k-1', async (manager) => {
      await manager!.query("INSERT INTO orders (id) VALUES ('from-handler')");
      await sleep(30);
      throw new Error('handler failed');
    });
    await sleep(5);
    const business = publisher.transaction(async (manager) => {
      await manager.query("INSERT INTO orders (id) VALUES ('from-request')");
    });
    await expect(failing).rejects.toThrow('handler failed');
    await business;
    expect(await dataSource.query('SELECT id FROM orders ORDER BY id')).toEqual([{ id: 'from-request' }]);
  });

  it('a handler may call publisher.transaction() inside its own transaction without deadlocking', async () => {
    const { dataSource, publisher, dedup } = await setup();
    const outcome = await dedup.execute('g', 'k-2', async () => {
      await publisher.transaction(async (manager) => {
        await manager.query("INSERT INTO orders (id) VALUES ('nested')");
      });
    });
    expect(outcome).toBe('processed');
    expect(await dataSource.query('SELECT id FROM orders')).toEqual([{ id: 'nested' }]);
  });
});
