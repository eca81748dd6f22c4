import { afterEach, describe, expect, it } from 'vitest';
import {
  backlogTopicOf,
  type BrokerEngine,
  type Delivery,
  type PublishMessage,
  type Subscription,
} from '@reliable-mq/engine';
import { EngineKit, range, sequencesByKey, sleep, text, until } from '../../test/engine-test-kit';

const KEYS = Array.from({ length: 24 }, (_, i) => `k${i}`);

/** One message per key for each number in [from, to), numbered per key. */
function batch(topic: string, from: number, to: number): PublishMessage[] {
  const messages: PublishMessage[] = [];
  for (let seq = from; seq < to; seq++) {
    for (const key of KEYS) messages.push({ topic, key, messageId: `${key}-${seq}`, body: `${key}:${seq}` });
  }
  return messages;
}

async function members(
  engine: BrokerEngine,
  count: number,
  options: { group: string; topic: string; mode?: 'orderly' | 'concurrent'; delayMs?: number; log?: Delivery[] },
): Promise<{ seen: Delivery[]; close: () => Promise<void> }> {
  // Handlers push as they finish: one log shared by several member sets is the order the handlers ran in.
  const seen: Delivery[] = options.log ?? [];
  const subs: Subscription[] = [];
  for (let i = 0; i < count; i++) {
    subs.push(
      await engine.subscribe({
        group: options.group,
        topic: options.topic,
        ...(options.mode ? { mode: options.mode } : {}),
        handler: async (delivery) => {
          if (options.delayMs) await sleep(options.delayMs);
          seen.push(delivery);
        },
      }),
    );
  }
  return { seen, close: async () => void (await Promise.all(subs.map((sub) => sub.close()))) };
}

const lagOf = (engine: BrokerEngine, group: string, topic: string): number =>
  engine.stats().groups.find((g) => g.group === group && g.topic === topic)?.lag ?? 0;

describe("a group's own backlog topic", () => {
  let kit: EngineKit;

  afterEach(async () => {
    await kit.dispose();
  });

  it('is read by the members with the subscriptions they have: every moved message once, under its topic', async () => {
    kit = new EngineKit();
    const engine = kit.open();
    engine.createTopic('orders', { queueCount: 2 });
    const audit = await members(engine, 1, { group: 'audit', topic: 'orders' });
    await audit.close();
    const first = await members(engine, 1, { group: 'slow', topic: 'orders' });
    await engine.publish(batch('orders', 0, 1));
    await until(() => first.seen.length === KEYS.length, 5000, 'the first round');
    await first.close();
    await engine.publish(batch('orders', 1, 11));
    expect(lagOf(engine, 'slow', 'orders')).toBe(240);

    engine.expandQueues('orders', 8);
    const result = await engine.redistributeBacklog('slow', 'orders');
    expect(result).toEqual({ moved: 240, toTopic: backlogTopicOf('slow') });
    const backlogTopic = engine.stats().topics.find((t) => t.topic === '%BACKLOG%slow')!;
    expect(backlogTopic.queues).toHaveLength(8);
    expect(backlogTopic.queues.reduce((sum, q) => sum + q.maxOffset, 0)).toBe(240);
    // Still the group's lag on the topic it came from, and as old as the oldest message in it.
    expect(lagOf(engine, 'slow', 'orders')).toBe(240);
    const row = engine.stats().groups.find((g) => g.group === 'slow' && g.topic === 'orders')!;
    expect(row.oldestUnconsumedAt).not.toBeNull();
    expect(engine.stats().groups.some((g) => g.topic.startsWith('%'))).toBe(false);

    const three = await members(engine, 3, { group: 'slow', topic: 'orders' });
    await until(() => three.seen.length === 240, 10_000, 'the moved backlog');
    await sleep(100);
    expect(three.seen).toHaveLength(240);
    expect(new Set(three.seen.map((d) => d.originalMessageId)).size).toBe(240);
    for (const delivery of three.seen) {
      expect(delivery.topic).toBe('orders');
      expect(delivery.sourceTopic).toBe('%BACKLOG%slow');
      expect(delivery.originalMessageId).toBe(`${delivery.key}-${text(delivery).split(':')[1]}`);
    }
    await until(() => lagOf(engine, 'slow', 'orders') === 0, 5000, 'no lag left');
    await three.close();

    const auditBack = await members(engine, 1, { group: 'audit', topic: 'orders' });
    await until(() => auditBack.seen.length === 264, 5000, 'everything for the other group');
  });

  it('keeps each key in order for an orderly group while producers go on publishing across the expansion and the move', async () => {
    kit = new EngineKit();
    const engine = kit.open();
    engine.createTopic('orders', { queueCount: 3 });
    const first = await members(engine, 1, { group: 'o', topic: 'orders', mode: 'orderly' });
    await engine.publish(batch('orders', 0, 1));
    await until(() => first.seen.length === KEYS.length, 5000, 'the first round');
    await first.close();
    await engine.publish(batch('orders', 1, 21));
    // 3 to 7 queues: many keys move, some to a queue numbered below their old one, so a move queue by queue would
    // put a key's newer messages first; the move follows the order of storage instead.
    engine.expandQueues('orders', 7);
    await engine.publish(batch('orders', 21, 26));

    // A slow orderly consumer works while the backlog is moved and more is published.
    // The move starts (and pauses the group on the topic) before a slow orderly consumer joins; more is published
    // while it runs. (A consumer running between an expansion and the move could take a key's new messages first:
    // `expandTo` covers that case, in the next test.)
    const ran: Delivery[] = [];
    const moving = engine.redistributeBacklog('o', 'orders', { queueCount: 16 });
    const slow = await members(engine, 2, { group: 'o', topic: 'orders', mode: 'orderly', delayMs: 1, log: ran });
    await engine.publish(batch('orders', 26, 31));
    const { moved } = await moving;
    expect(moved).toBeGreaterThan(0);
    await engine.publish(batch('orders', 31, 36));
    const more = await members(engine, 2, { group: 'o', topic: 'orders', mode: 'orderly', log: ran });

    const total = KEYS.length * 35;
    await until(() => ran.length >= total, 20_000, 'every message');
    await sleep(100);
    expect(ran).toHaveLength(total);
    const byKey = sequencesByKey(ran);
    for (const key of KEYS) expect(byKey.get(key), key).toEqual(range(1, 36));
    await slow.close();
    await more.close();
  });

  it('expands and moves in one step while an orderly consumer runs and producers never stop: every key in order', async () => {
    kit = new EngineKit();
    const engine = kit.open();
    engine.createTopic('orders', { queueCount: 3 });
    await engine.publish(batch('orders', 0, 20));
    const ran: Delivery[] = [];
    const slow = await members(engine, 1, { group: 'o', topic: 'orders', mode: 'orderly', delayMs: 2, log: ran });
    await until(() => ran.length >= KEYS.length, 5000, 'the consumer to be working');
    let next = 20;
    let publishing = true;
    const producer = (async () => {
      while (publishing) {
        await engine.publish(batch('orders', next, next + 1));
        next += 1;
        await sleep(5);
      }
    })();
    await sleep(30);
    const { moved } = await engine.redistributeBacklog('o', 'orders', { expandTo: 7 });
    expect(moved).toBeGreaterThan(0);
    expect(engine.getTopic('orders')!.queueCount).toBe(7);
    expect(engine.getTopic('%BACKLOG%o')!.queueCount).toBe(7);
    await sleep(50);
    publishing = false;
    await producer;
    const more = await members(engine, 2, { group: 'o', topic: 'orders', mode: 'orderly', log: ran });
    const total = KEYS.length * next;
    await until(() => ran.length >= total, 20_000, 'every message');
    await sleep(100);
    expect(ran).toHaveLength(total);
    const byKey = sequencesByKey(ran);
    for (const key of KEYS) expect(byKey.get(key), key).toEqual(range(0, next));
    await slow.close();
    await more.close();
  });

  it('holds the orderly queues until the moved backlog has drained, across a restart', async () => {
    kit = new EngineKit();
    const engine = kit.open();
    engine.createTopic('orders', { queueCount: 2 });
    const first = await members(engine, 1, { group: 'o', topic: 'orders', mode: 'orderly' });
    await engine.publish(batch('orders', 0, 1));
    await until(() => first.seen.length === KEYS.length, 5000, 'the first round');
    await first.close();
    await engine.publish(batch('orders', 1, 11));
    engine.expandQueues('orders', 8);
    expect((await engine.redistributeBacklog('o', 'orders')).moved).toBe(240);
    await engine.publish(batch('orders', 11, 16));
    const dir = engine.options.dataDir;
    await engine.close();

    const reopened = kit.open({ dataDir: dir });
    const after = await members(reopened, 3, { group: 'o', topic: 'orders', mode: 'orderly' });
    await until(() => after.seen.length === KEYS.length * 15, 10_000, 'every message after the restart');
    await sleep(100);
    const byKey = sequencesByKey(after.seen);
    for (const key of KEYS) expect(byKey.get(key), key).toEqual(range(1, 16));
    await after.close();
  });
});
