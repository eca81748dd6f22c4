import { afterEach, describe, expect, it } from 'vitest';
import type { BrokerEngine, Delivery } from '@reliable-mq/engine';
import { EngineKit, sleep, tempDataDir, text, until } from '../../test/engine-test-kit';

const stored = (engine: BrokerEngine, topic: string): number =>
  engine
    .stats()
    .topics.find((t) => t.topic === topic)!
    .queues.reduce((sum, q) => sum + q.maxOffset, 0);

async function collect(engine: BrokerEngine, topic: string, group = 'g'): Promise<Delivery[]> {
  const seen: Delivery[] = [];
  await engine.subscribe({
    group,
    topic,
    startFrom: 'earliest',
    handler: async (delivery) => {
      seen.push(delivery);
    },
  });
  return seen;
}

describe('idempotent publish', () => {
  let kit: EngineKit;
  const cleanups: Array<() => void> = [];

  afterEach(async () => {
    await kit.dispose();
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  it('returns the first confirm with duplicate:true and stores no second copy', async () => {
    kit = new EngineKit();
    const engine = kit.open();
    engine.createTopic('orders');
    const [first] = await engine.publish([{ topic: 'orders', messageId: 'order-1', key: 'A', body: 'original' }]);
    expect(first!.duplicate).toBe(false);
    // A retrying producer may send a different body or key; the first copy wins.
    const [again] = await engine.publish([{ topic: 'orders', messageId: 'order-1', key: 'B', body: 'retry' }]);
    expect(again).toEqual({ ...first, duplicate: true });
    expect(stored(engine, 'orders')).toBe(1);

    const seen = await collect(engine, 'orders');
    await engine.publish([{ topic: 'orders', messageId: 'marker', body: 'marker' }]);
    await until(() => seen.some((d) => d.messageId === 'marker'), 5000, 'the marker');
    await sleep(50);
    expect(seen.map(text).sort()).toEqual(['marker', 'original']);
    expect(seen.filter((d) => d.messageId === 'order-1').map(text)).toEqual(['original']);
    expect(seen).toHaveLength(2);
  });

  it('detects the duplicate across a restart', async () => {
    kit = new EngineKit();
    const temp = tempDataDir();
    cleanups.push(temp.cleanup);
    const first = kit.open({ dataDir: temp.dir });
    first.createTopic('orders');
    const [original] = await first.publish([{ topic: 'orders', messageId: 'order-7', key: 'k', body: 'one' }]);
    await first.close();

    const second = kit.open({ dataDir: temp.dir });
    const [again] = await second.publish([{ topic: 'orders', messageId: 'order-7', key: 'k', body: 'two' }]);
    expect(again).toEqual({ ...original, duplicate: true });
    expect(stored(second, 'orders')).toBe(1);
    const seen = await collect(second, 'orders');
    await until(() => seen.length === 1, 5000, 'one delivery');
    await sleep(50);
    expect(seen.map(text)).toEqual(['one']);
  });

  it('detects a duplicate of a delayed message, before and after it becomes visible', async () => {
    kit = new EngineKit();
    const engine = kit.open();
    engine.createTopic('orders');
    const [delayed] = await engine.publish([{ topic: 'orders', messageId: 'later-1', body: 'delayed', delayMs: 300 }]);
    expect(delayed!.queueOffset).toBe(-1);
    const [whileWaiting] = await engine.publish([{ topic: 'orders', messageId: 'later-1', body: 'dup', delayMs: 300 }]);
    expect(whileWaiting).toEqual({ ...delayed, duplicate: true });
    expect(engine.stats().scheduledPending).toBe(1);

    const seen = await collect(engine, 'orders');
    await until(() => seen.length === 1, 5000, 'the delayed message');
    // Now it sits in its queue: the duplicate reports the real position.
    const [afterDelivery] = await engine.publish([
      { topic: 'orders', messageId: 'later-1', body: 'dup', delayMs: 300 },
    ]);
    expect(afterDelivery).toMatchObject({
      messageId: 'later-1',
      topic: 'orders',
      queueId: delayed!.queueId,
      queueOffset: 0,
      duplicate: true,
    });
    await sleep(500);
    expect(seen.map(text)).toEqual(['delayed']);
    expect(engine.stats().scheduledPending).toBe(0);
    expect(stored(engine, 'orders')).toBe(1);
  });

  it('stores one copy when a batch holds the same id twice, and when concurrent publishes race', async () => {
    kit = new EngineKit();
    const engine = kit.open();
    engine.createTopic('orders');
    const results = await engine.publish([
      { topic: 'orders', messageId: 'twice', body: 'first' },
      { topic: 'orders', messageId: 'other', body: 'other' },
      { topic: 'orders', messageId: 'twice', body: 'second' },
    ]);
    expect(results[0]!.duplicate).toBe(false);
    expect(results[2]).toEqual({ ...results[0], duplicate: true });

    const racing = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        engine.publish([{ topic: 'orders', messageId: 'raced', body: `attempt-${i}` }]),
      ),
    );
    expect(racing.filter(([r]) => !r!.duplicate)).toHaveLength(1);
    const winner = racing.find(([r]) => !r!.duplicate)![0]!;
    for (const [r] of racing) expect(r).toMatchObject({ queueId: winner.queueId, queueOffset: winner.queueOffset });

    expect(stored(engine, 'orders')).toBe(3);
    const seen = await collect(engine, 'orders');
    await until(() => seen.length === 3, 5000, 'three deliveries');
    await sleep(50);
    expect(seen.map((d) => d.messageId).sort()).toEqual(['other', 'raced', 'twice']);
    expect(seen.find((d) => d.messageId === 'twice')!.body.toString()).toBe('first');
    expect(seen.find((d) => d.messageId === 'raced')!.body.toString()).toBe('attempt-0');
  });
});
