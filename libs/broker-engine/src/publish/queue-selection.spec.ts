import { afterEach, describe, expect, it } from 'vitest';
import { stableHash, type Delivery, type PublishResult } from '@reliable-mq/engine';
import { EngineKit, tempDataDir, text, until } from '../../test/engine-test-kit';

describe('queue choice', () => {
  let kit = new EngineKit();
  const cleanups: Array<() => void> = [];

  afterEach(async () => {
    await kit.dispose();
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  it('hashes keys with 32-bit FNV-1a over UTF-8 (pinned vectors: changing them moves every key)', () => {
    expect(stableHash('')).toBe(0x811c9dc5);
    expect(stableHash('a')).toBe(0xe40c292c);
    expect(stableHash('foobar')).toBe(0xbf9cf968);
    expect(stableHash('order-42')).toBe(0x572446f4);
    expect(stableHash('customer:1001')).toBe(0xbdfabe2b);
    expect(stableHash('ключ')).toBe(0x95c4e9e1);
  });

  it('puts one key on one queue, with offsets increasing in publish order', async () => {
    kit = new EngineKit();
    const engine = kit.open();
    engine.createTopic('orders', { queueCount: 8 });
    const keys = ['order-42', 'customer:1001', 'a', 'foobar', 'ключ'];
    const byKey = new Map<string, PublishResult[]>();
    // Sequential publishes, one batch, and concurrent publishes all keep per-key order.
    for (let round = 0; round < 5; round++) {
      for (const key of keys) {
        const [result] = await engine.publish([{ topic: 'orders', key, body: `${key}#${round}` }]);
        byKey.set(key, [...(byKey.get(key) ?? []), result!]);
      }
    }
    const batch = await engine.publish(
      keys.flatMap((key) => [5, 6].map((round) => ({ topic: 'orders', key, body: `${key}#${round}` }))),
    );
    batch.forEach((result, index) => {
      const key = keys[Math.floor(index / 2)]!;
      byKey.set(key, [...byKey.get(key)!, result]);
    });
    for (const key of keys) {
      const results = byKey.get(key)!;
      expect(new Set(results.map((r) => r.queueId)), key).toEqual(new Set([stableHash(key) % 8]));
      const offsets = results.map((r) => r.queueOffset);
      expect(offsets, key).toEqual([...offsets].sort((a, b) => a - b));
      expect(new Set(offsets).size).toBe(offsets.length);
    }

    // A consumer sees each key's messages in publish order.
    const seen = new Map<string, string[]>();
    await engine.subscribe({
      group: 'g',
      topic: 'orders',
      mode: 'orderly',
      startFrom: 'earliest',
      handler: async (delivery: Delivery) => {
        seen.set(delivery.key!, [...(seen.get(delivery.key!) ?? []), text(delivery)]);
      },
    });
    await until(() => [...seen.values()].reduce((n, list) => n + list.length, 0) === 35, 5000, 'all 35 messages');
    for (const key of keys) expect(seen.get(key)).toEqual([0, 1, 2, 3, 4, 5, 6].map((round) => `${key}#${round}`));
  });

  it('keeps the key-to-queue mapping across a restart', async () => {
    kit = new EngineKit();
    const temp = tempDataDir();
    cleanups.push(temp.cleanup);
    const first = kit.open({ dataDir: temp.dir });
    first.createTopic('orders', { queueCount: 8 });
    const before = await first.publish(
      ['order-42', 'customer:1001'].map((key) => ({ topic: 'orders', key, body: 'before' })),
    );
    await first.close();

    const second = kit.open({ dataDir: temp.dir });
    const after = await second.publish(
      ['order-42', 'customer:1001'].map((key) => ({ topic: 'orders', key, body: 'after' })),
    );
    expect(after.map((r) => r.queueId)).toEqual(before.map((r) => r.queueId));
    expect(before.map((r) => r.queueId)).toEqual([0x572446f4 % 8, 0xbdfabe2b % 8]);
    after.forEach((result, index) => expect(result.queueOffset).toBeGreaterThan(before[index]!.queueOffset));
  });

  it('spreads keyless messages round-robin over all queues', async () => {
    kit = new EngineKit();
    const engine = kit.open();
    engine.createTopic('events', { queueCount: 4 });
    const single: number[] = [];
    for (let i = 0; i < 8; i++) single.push((await engine.publish([{ topic: 'events', body: `${i}` }]))[0]!.queueId);
    expect(single).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
    const batch = await engine.publish(Array.from({ length: 12 }, (_, i) => ({ topic: 'events', body: `b${i}` })));
    const counts = [0, 0, 0, 0];
    for (const result of batch) counts[result.queueId]!++;
    expect(counts).toEqual([3, 3, 3, 3]);
    expect(
      engine
        .stats()
        .topics.find((t) => t.topic === 'events')!
        .queues.map((q) => q.maxOffset),
    ).toEqual([5, 5, 5, 5]);
  });
});
