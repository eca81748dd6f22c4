import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DATABASE_FILE,
  InsufficientDiskSpaceError,
  StorageFullError,
  type BrokerEngine,
  type PublishResult,
} from '@reliable-mq/engine';
import { resolveEngineOptions, type ProbedEngineOptions } from '../engine-options';
import { EngineKit, sleep, until } from '../../test/engine-test-kit';

type ProbedOptions = Partial<ProbedEngineOptions>;

const stored = (engine: BrokerEngine, topic: string): number =>
  engine
    .stats()
    .topics.find((t) => t.topic === topic)!
    .queues.reduce((sum, q) => sum + q.maxOffset, 0);

function storedCommitted(engine: BrokerEngine, group: string, topic: string): number {
  const db = new Database(join(engine.options.dataDir, DATABASE_FILE), { readonly: true });
  try {
    return (
      db
        .prepare('SELECT COALESCE(SUM(committed), 0) AS n FROM offsets WHERE group_name = ? AND topic = ?')
        .get(group, topic) as { n: number }
    ).n;
  } finally {
    db.close();
  }
}

describe('resource guards', () => {
  let kit: EngineKit;

  afterEach(async () => {
    await kit.dispose();
  });

  it('refuses publishing with StorageFullError at maxDatabaseBytes, stores nothing of that batch, and resumes after retention', async () => {
    kit = new EngineKit();
    const limit = 1024 * 1024;
    const engine = kit.open({ maxDatabaseBytes: limit, retentionMs: 1 });
    engine.createTopic('blobs', { queueCount: 1 });
    const delivered: string[] = [];
    await engine.subscribe({
      group: 'g',
      topic: 'blobs',
      handler: async (delivery) => {
        delivered.push(delivery.messageId);
      },
    });

    const body = Buffer.alloc(16 * 1024, 7);
    const acked: string[] = [];
    let refused: unknown;
    let refusedIds: string[] = [];
    for (let batch = 0; batch < 200 && refused === undefined; batch++) {
      const ids = [0, 1, 2, 3].map((i) => `b${batch}-${i}`);
      try {
        const results = await engine.publish(ids.map((messageId) => ({ topic: 'blobs', messageId, body })));
        acked.push(...results.map((r) => r.messageId));
      } catch (error) {
        refused = error;
        refusedIds = ids;
      }
    }
    expect(refused).toBeInstanceOf(StorageFullError);
    expect((refused as StorageFullError).limitBytes).toBe(limit);
    expect((refused as Error).message).toContain(`maxDatabaseBytes ${limit}`);
    expect(acked.length).toBeGreaterThan(0);
    expect(engine.stats().databaseBytes).toBeLessThanOrEqual(limit);

    // Nothing of the refused batch exists: not in the queue, not delivered.
    expect(stored(engine, 'blobs')).toBe(acked.length);
    await until(() => delivered.length === acked.length, 10_000, 'every acked message delivered');
    await sleep(100);
    expect(delivered).toEqual(acked);
    expect(delivered.some((id) => refusedIds.includes(id))).toBe(false);

    // Still full: the same batch is refused again.
    await expect(
      engine.publish(refusedIds.map((messageId) => ({ topic: 'blobs', messageId, body }))),
    ).rejects.toBeInstanceOf(StorageFullError);
    expect(stored(engine, 'blobs')).toBe(acked.length);

    // Retention frees pages; publishing resumes without reopening or reconfiguring.
    await until(() => storedCommitted(engine, 'g', 'blobs') === acked.length, 10_000, 'offsets on disk');
    await sleep(5);
    expect(await engine.runRetention()).toBe(acked.length);
    const [resumed] = await engine.publish([{ topic: 'blobs', messageId: 'after-retention', body }]);
    expect(resumed!.queueOffset).toBe(acked.length);
    const more = await engine.publish([0, 1, 2].map((i) => ({ topic: 'blobs', messageId: `more-${i}`, body })));
    expect(more).toHaveLength(3);
    await until(() => delivered.includes('more-2'), 5000, 'the messages after the pause');
    expect(delivered.slice(acked.length)).toEqual(['after-retention', 'more-0', 'more-1', 'more-2']);
  });

  it('refuses publishing with InsufficientDiskSpaceError below minFreeDiskBytes and resumes when space returns', async () => {
    kit = new EngineKit();
    let free = 10 * 1024 ** 3;
    const probed: string[] = [];
    const options: ProbedOptions = {
      minFreeDiskBytes: 1_000_000,
      freeDiskBytes: (dir) => {
        probed.push(dir);
        return free;
      },
    };
    const engine = kit.open(options);
    engine.createTopic('orders', { queueCount: 1 });
    await engine.publish([{ topic: 'orders', messageId: 'before', body: 'x' }]);
    expect(probed).toContain(engine.options.dataDir);

    free = 500;
    // The probe result is cached for about a second.
    await sleep(1200);
    const error = await engine.publish([{ topic: 'orders', messageId: 'refused', body: 'x' }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InsufficientDiskSpaceError);
    expect(error).toMatchObject({ freeBytes: 500, floorBytes: 1_000_000 });
    expect((error as Error).message).toContain('minFreeDiskBytes');
    expect(stored(engine, 'orders')).toBe(1);

    // Consumers keep committing while publishing is refused.
    const seen: string[] = [];
    await engine.subscribe({
      group: 'g',
      topic: 'orders',
      startFrom: 'earliest',
      handler: async (delivery) => {
        seen.push(delivery.messageId);
      },
    });
    await until(
      () => seen.length === 1 && storedCommitted(engine, 'g', 'orders') === 1,
      5000,
      'offset commit while refused',
    );

    free = 10 * 1024 ** 3;
    let resumed: PublishResult | undefined;
    const deadline = Date.now() + 5000;
    while (!resumed && Date.now() < deadline) {
      try {
        [resumed] = await engine.publish([{ topic: 'orders', messageId: 'after', body: 'x' }]);
      } catch (retryError) {
        expect(retryError).toBeInstanceOf(InsufficientDiskSpaceError);
        await sleep(100);
      }
    }
    expect(resumed).toMatchObject({ messageId: 'after', queueOffset: 1, duplicate: false });
    await until(() => seen.includes('after'), 5000, 'the message after space returned');
    expect(seen).toEqual(['before', 'after']);
  });

  it('probes the real file system when no probe is given', async () => {
    expect(resolveEngineOptions({ dataDir: '/tmp/x' }).minFreeDiskBytes).toBe(64 * 1024 * 1024);
    kit = new EngineKit();
    const roomy = kit.open({ minFreeDiskBytes: 1 });
    roomy.createTopic('orders');
    await expect(roomy.publish([{ topic: 'orders', body: 'x' }])).resolves.toHaveLength(1);
    const impossible = kit.open({ minFreeDiskBytes: Number.MAX_SAFE_INTEGER });
    impossible.createTopic('orders');
    await expect(impossible.publish([{ topic: 'orders', body: 'x' }])).rejects.toBeInstanceOf(
      InsufficientDiskSpaceError,
    );
    expect(stored(impossible, 'orders')).toBe(0);
  });
});
