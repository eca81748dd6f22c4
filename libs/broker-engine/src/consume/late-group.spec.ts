import { UnknownTopicError, type BrokerEngine, type Delivery, type SubscribeOptions } from '@reliable-mq/engine';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineKit, sleep, tempDataDir, text, until } from '../../test/engine-test-kit';
import { ManualClock } from '../../test/manual-clock';

/**
 * A group that subscribes to a topic for the first time after messages were published to it (a consumer deployed
 * after its producer): what it receives when its subscription names no start position.
 */

const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4'];

/** `count` messages spread over KEYS, each body `<key>:<sequence of that key>`, in one publish per 50. */
async function publishKeyed(engine: BrokerEngine, topic: string, count: number, from = 0): Promise<string[]> {
  const ids: string[] = [];
  for (let start = from; start < from + count; start += 50) {
    const batch = Array.from({ length: Math.min(50, from + count - start) }, (_, offset) => {
      const n = start + offset;
      const key = KEYS[n % KEYS.length]!;
      return { topic, key, body: `${key}:${Math.floor(n / KEYS.length)}` };
    });
    const results = await engine.publish(batch);
    ids.push(...results.map((result) => result.messageId));
  }
  return ids;
}

async function record(engine: BrokerEngine, seen: Delivery[], options: Omit<SubscribeOptions, 'handler'>) {
  return engine.subscribe({
    ...options,
    handler: async (delivery) => {
      seen.push(delivery);
    },
  });
}

/** Every id exactly once, and within each key the sequence numbers in the order they were published. */
function expectOnceInKeyOrder(seen: Delivery[], published: string[]): void {
  expect(seen.map((delivery) => delivery.messageId).sort()).toEqual([...published].sort());
  const byKey = new Map<string, number[]>();
  for (const delivery of seen) {
    const [key, sequence] = text(delivery).split(':');
    byKey.set(key!, [...(byKey.get(key!) ?? []), Number(sequence)]);
  }
  for (const [key, sequences] of byKey) {
    expect(sequences, `order of key ${key}`).toEqual([...sequences].sort((a, b) => a - b));
  }
}

describe('a group that subscribes after messages were published', () => {
  let kit: EngineKit;
  const dirs: Array<() => void> = [];

  beforeEach(() => {
    kit = new EngineKit();
  });

  afterEach(async () => {
    await kit.dispose();
    for (const cleanup of dirs.splice(0)) cleanup();
  });

  it('receives every message published before its first subscription, once each, in per-key order', async () => {
    const temp = tempDataDir();
    dirs.push(temp.cleanup);
    let engine = kit.open({ dataDir: temp.dir });
    engine.createTopic('orders', { queueCount: 4 });
    const published = await publishKeyed(engine, 'orders', 200);
    const seen: Delivery[] = [];
    const sub = await record(engine, seen, { group: 'billing', topic: 'orders', mode: 'orderly' });
    await until(() => seen.length >= 200, 5000, 'the 200 messages published before the group existed');
    await sleep(100);
    expect(seen).toHaveLength(200);
    expectOnceInKeyOrder(seen, published);

    // Its position is now stored: after a restart it neither starts over nor skips what came meanwhile.
    await sub.close();
    const later = await publishKeyed(engine, 'orders', 20, 200);
    await engine.close();
    engine = kit.open({ dataDir: temp.dir });
    const after: Delivery[] = [];
    await record(engine, after, { group: 'billing', topic: 'orders', mode: 'orderly' });
    await until(() => after.length >= 20, 5000, 'the messages published while the group was away');
    await sleep(100);
    expect(after.map((delivery) => delivery.messageId).sort()).toEqual([...later].sort());
  });

  it('joining a topic other groups already consumed, still gets every message the engine retains', async () => {
    const engine = kit.open();
    engine.createTopic('orders', { queueCount: 2 });
    const first: Delivery[] = [];
    await record(engine, first, { group: 'billing', topic: 'orders' });
    const published = await publishKeyed(engine, 'orders', 40);
    await until(() => first.length >= 40, 5000, 'the first group');
    const late: Delivery[] = [];
    await record(engine, late, { group: 'analytics', topic: 'orders', mode: 'orderly' });
    await until(() => late.length >= 40, 5000, 'the late group');
    await sleep(100);
    expectOnceInKeyOrder(late, published);
  });

  it('does not get a message that retention deleted before the group existed; younger ones it gets', async () => {
    const clock = new ManualClock();
    const engine = kit.open({ clock, retentionMs: 60_000 });
    engine.createTopic('orders', { queueCount: 1 });
    await engine.publish([{ topic: 'orders', key: 'o-1', body: 'expired before anyone subscribed' }]);
    clock.advance(60_001);
    const [young] = await engine.publish([{ topic: 'orders', key: 'o-1', body: 'within retention' }]);
    // No group subscribes to the topic, so retention alone bounds how long its messages wait for one.
    expect(await engine.runRetention()).toBe(1);
    const seen: Delivery[] = [];
    await record(engine, seen, { group: 'billing', topic: 'orders' });
    await until(() => seen.length >= 1, 5000, 'the retained message');
    await sleep(100);
    expect(seen.map((delivery) => delivery.messageId)).toEqual([young!.messageId]);
  });

  it('starts at the end with startFrom "latest", and a broadcasting member starts at the end by default', async () => {
    const engine = kit.open();
    engine.createTopic('orders', { queueCount: 2 });
    await publishKeyed(engine, 'orders', 10);
    const latest: Delivery[] = [];
    const broadcast: Delivery[] = [];
    await record(engine, latest, { group: 'live-only', topic: 'orders', startFrom: 'latest' });
    await record(engine, broadcast, { group: 'caches', topic: 'orders', groupMode: 'broadcasting', memberId: 'm1' });
    const [next] = await engine.publish([{ topic: 'orders', key: 'k9', body: 'k9:0' }]);
    await until(() => latest.length >= 1 && broadcast.length >= 1, 5000, 'the next message');
    await sleep(100);
    expect(latest.map((delivery) => delivery.messageId)).toEqual([next!.messageId]);
    expect(broadcast.map((delivery) => delivery.messageId)).toEqual([next!.messageId]);
  });

  it('a topic never created keeps nothing: publishing and subscribing are refused, naming the topic', async () => {
    const engine = kit.open();
    await expect(engine.publish([{ topic: 'never.created', body: 'x' }])).rejects.toBeInstanceOf(UnknownTopicError);
    await expect(record(engine, [], { group: 'billing', topic: 'never.created' })).rejects.toThrow(
      /Topic "never\.created" does not exist/,
    );
  });
});
