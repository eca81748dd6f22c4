import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DATABASE_FILE, type BrokerEngine, type QueueStats } from '@reliable-mq/engine';
import { EngineKit, sleep, text, until } from '../../test/engine-test-kit';

/** Committed offsets as stored on disk (what retention reads), through a connection of its own. */
function storedCommitted(engine: BrokerEngine, group: string, topic: string): number {
  const db = new Database(join(engine.options.dataDir, DATABASE_FILE), { readonly: true });
  try {
    const row = db
      .prepare('SELECT COALESCE(SUM(committed), 0) AS n FROM offsets WHERE group_name = ? AND topic = ?')
      .get(group, topic) as { n: number };
    return row.n;
  } finally {
    db.close();
  }
}

const queuesOf = (engine: BrokerEngine, topic: string): QueueStats[] =>
  engine.stats().topics.find((t) => t.topic === topic)!.queues;

const storedCount = (engine: BrokerEngine, topic: string): number =>
  queuesOf(engine, topic).reduce((sum, q) => sum + (q.maxOffset - q.minOffset), 0);

describe('retention', () => {
  let kit: EngineKit;

  afterEach(async () => {
    await kit.dispose();
  });

  it('deletes messages every subscribed group consumed once they are older than retentionMs, and keeps unconsumed ones', async () => {
    kit = new EngineKit();
    const engine = kit.open({ retentionMs: 20 });
    engine.createTopic('orders', { queueCount: 2 });
    let consumed = 0;
    const sub = await engine.subscribe({
      group: 'billing',
      topic: 'orders',
      handler: async () => {
        consumed++;
      },
    });
    await engine.publish(Array.from({ length: 10 }, (_, i) => ({ topic: 'orders', body: `old-${i}` })));
    await until(() => consumed === 10, 5000, 'consumption');
    await until(() => storedCommitted(engine, 'billing', 'orders') === 10, 5000, 'offsets on disk');
    await sub.close();
    // Published after the group left: nobody has consumed these.
    await engine.publish(Array.from({ length: 4 }, (_, i) => ({ topic: 'orders', body: `unconsumed-${i}` })));
    await sleep(40);

    expect(await engine.runRetention()).toBe(10);
    expect(queuesOf(engine, 'orders')).toEqual([
      { queueId: 0, minOffset: 5, maxOffset: 7 },
      { queueId: 1, minOffset: 5, maxOffset: 7 },
    ]);
    expect(await engine.runRetention()).toBe(0);

    // The group comes back and still gets exactly what it had not consumed.
    const back: string[] = [];
    await engine.subscribe({
      group: 'billing',
      topic: 'orders',
      handler: async (delivery) => {
        back.push(text(delivery));
      },
    });
    await until(() => back.length === 4, 5000, 'the unconsumed messages');
    expect(back.sort()).toEqual(['unconsumed-0', 'unconsumed-1', 'unconsumed-2', 'unconsumed-3']);
  });

  it('keeps consumed messages younger than retentionMs', async () => {
    kit = new EngineKit();
    const engine = kit.open({ retentionMs: 60_000 });
    engine.createTopic('orders', { queueCount: 1 });
    let consumed = 0;
    await engine.subscribe({
      group: 'g',
      topic: 'orders',
      handler: async () => {
        consumed++;
      },
    });
    await engine.publish([{ topic: 'orders', body: 'young' }]);
    await until(() => consumed === 1 && storedCommitted(engine, 'g', 'orders') === 1, 5000, 'consumption');
    expect(await engine.runRetention()).toBe(0);
    expect(storedCount(engine, 'orders')).toBe(1);
  });

  it('keeps what a second, lagging group still needs', async () => {
    kit = new EngineKit();
    const engine = kit.open({ retentionMs: 10 });
    engine.createTopic('orders', { queueCount: 1 });
    let fast = 0;
    await engine.subscribe({
      group: 'fast',
      topic: 'orders',
      handler: async () => {
        fast++;
      },
    });
    const slow: string[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    await engine.subscribe({
      group: 'slow',
      topic: 'orders',
      prefetch: 1,
      handler: async (delivery) => {
        if (text(delivery) === 'm5') await released;
        slow.push(text(delivery));
      },
    });
    await engine.publish(Array.from({ length: 10 }, (_, i) => ({ topic: 'orders', body: `m${i}` })));
    await until(() => fast === 10 && slow.length === 5, 5000, 'fast done, slow stuck at m5');
    await until(
      () => storedCommitted(engine, 'fast', 'orders') === 10 && storedCommitted(engine, 'slow', 'orders') === 5,
      5000,
      'offsets on disk',
    );
    await sleep(30);

    expect(await engine.runRetention()).toBe(5);
    expect(queuesOf(engine, 'orders')).toEqual([{ queueId: 0, minOffset: 5, maxOffset: 10 }]);

    release();
    await until(() => slow.length === 10, 5000, 'the slow group to finish');
    expect(slow).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9']);
    await until(() => storedCommitted(engine, 'slow', 'orders') === 10, 5000, 'slow offsets on disk');
    await sleep(30);
    expect(await engine.runRetention()).toBe(5);
    expect(storedCount(engine, 'orders')).toBe(0);
  });

  it('deletes a large backlog in chunks while publishing goes on', async () => {
    kit = new EngineKit();
    const engine = kit.open({ retentionMs: 1, retentionChunkSize: 500 });
    engine.createTopic('bulk', { queueCount: 4 });
    let consumed = 0;
    await engine.subscribe({
      group: 'g',
      topic: 'bulk',
      prefetch: 1000,
      handler: async () => {
        consumed++;
      },
    });
    const body = Buffer.alloc(64, 1);
    for (let batch = 0; batch < 20; batch++) {
      await engine.publish(Array.from({ length: 1000 }, () => ({ topic: 'bulk', body })));
    }
    await until(() => consumed === 20_000, 60_000, '20k deliveries');
    await until(() => storedCommitted(engine, 'g', 'bulk') === 20_000, 10_000, 'offsets on disk');
    await sleep(10);

    const connection = (engine as unknown as { db: Database.Database }).db;
    const transactions = vi.spyOn(connection, 'transaction');
    let passDone = false;
    const pass = engine.runRetention().then((deleted) => {
      passDone = true;
      return deleted;
    });
    const latencies: number[] = [];
    let confirmedDuringPass = 0;
    while (!passDone) {
      const started = Date.now();
      const [result] = await engine.publish([{ topic: 'bulk', body: 'during retention' }]);
      latencies.push(Date.now() - started);
      expect(result!.queueOffset).toBeGreaterThanOrEqual(5000);
      if (!passDone) confirmedDuringPass++;
    }
    const deleted = await pass;
    const chunkWrites = transactions.mock.calls.length;
    transactions.mockRestore();
    console.info(
      `[retention] deleted ${deleted} rows in >= ${Math.ceil(deleted / 500)} chunks (${chunkWrites} writes); ` +
        `${latencies.length} publishes during the pass, max latency ${Math.max(...latencies)} ms`,
    );
    expect(deleted).toBe(20_000);
    expect(chunkWrites).toBeGreaterThanOrEqual(40);
    // The pass does not hold publishers off until it ends.
    expect(confirmedDuringPass).toBeGreaterThanOrEqual(1);
    // What was published during the pass is younger than the cutoff and stays.
    expect(storedCount(engine, 'bulk')).toBe(latencies.length);
  }, 120_000);
});
