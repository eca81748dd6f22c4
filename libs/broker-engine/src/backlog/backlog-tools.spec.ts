import { afterEach, describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  UnknownTopicError,
  type BrokerEngine,
  type Delivery,
  type PublishMessage,
} from '@reliable-mq/engine';
import { EngineKit, range, sequencesByKey, sleep, text, until } from '../../test/engine-test-kit';

const KEYS = ['k1', 'k2', 'k3', 'k4', 'k5'];

/** `count` messages cycling through k1..k5, each key numbering its own messages from `firstSeq`. */
function interleaved(topic: string, perKey: number, firstSeq: number): PublishMessage[] {
  const messages: PublishMessage[] = [];
  for (let seq = firstSeq; seq < firstSeq + perKey; seq++) {
    for (const key of KEYS) messages.push({ topic, key, messageId: `${key}-${seq}`, body: `${key}:${seq}` });
  }
  return messages;
}

async function collect(
  engine: BrokerEngine,
  group: string,
  topic: string,
  options: { memberId?: string; startFrom?: 'earliest' | 'latest' } = {},
): Promise<{ seen: Delivery[]; close: () => Promise<void>; assigned: () => string[] }> {
  const seen: Delivery[] = [];
  const sub = await engine.subscribe({
    group,
    topic,
    ...options,
    handler: async (delivery) => {
      seen.push(delivery);
    },
  });
  return {
    seen,
    close: () => sub.close(),
    assigned: () =>
      sub
        .assignedQueues()
        .filter((queue) => queue.startsWith(`${topic}:`))
        .sort(),
  };
}

describe('backlog tools', () => {
  let kit: EngineKit;

  afterEach(async () => {
    await kit.dispose();
  });

  describe('expandQueues', () => {
    it('adds queues online; members take them over and consume what is published to them', async () => {
      kit = new EngineKit();
      const engine = kit.open();
      engine.createTopic('orders', { queueCount: 2 });
      const a = await collect(engine, 'g', 'orders', { memberId: 'member-a' });
      const b = await collect(engine, 'g', 'orders', { memberId: 'member-b' });
      expect(a.assigned()).toEqual(['orders:0']);
      expect(b.assigned()).toEqual(['orders:1']);

      const info = engine.expandQueues('orders', 4);
      expect(info.queueCount).toBe(4);
      expect(engine.getTopic('orders')!.queueCount).toBe(4);
      expect(a.assigned()).toEqual(['orders:0', 'orders:1']);
      expect(b.assigned()).toEqual(['orders:2', 'orders:3']);

      const results = await engine.publish(Array.from({ length: 8 }, (_, i) => ({ topic: 'orders', body: `m${i}` })));
      expect(new Set(results.map((r) => r.queueId))).toEqual(new Set([0, 1, 2, 3]));
      await until(() => a.seen.length + b.seen.length === 8, 5000, 'all eight messages');
      expect(new Set(b.seen.map((d) => d.queueId))).toEqual(new Set([2, 3]));
      expect([...a.seen, ...b.seen].map(text).sort()).toEqual(range(0, 8).map((i) => `m${i}`));
      expect(
        engine
          .stats()
          .topics.find((t) => t.topic === 'orders')!
          .queues.map((q) => q.maxOffset),
      ).toEqual([2, 2, 2, 2]);
    });

    it('refuses a count that does not grow the topic, or an unknown topic', () => {
      kit = new EngineKit();
      const engine = kit.open();
      engine.createTopic('orders', { queueCount: 4 });
      expect(() => engine.expandQueues('orders', 4)).toThrow(InvalidArgumentError);
      expect(() => engine.expandQueues('orders', 3)).toThrow(
        /already has 4 queues; expandQueues needs a larger count, got 3/,
      );
      expect(() => engine.expandQueues('orders', 1025)).toThrow(InvalidArgumentError);
      expect(() => engine.expandQueues('missing', 8)).toThrow(UnknownTopicError);
      expect(engine.getTopic('orders')!.queueCount).toBe(4);
    });

    it('keeps the new queue count and the messages on new queues across a restart', async () => {
      kit = new EngineKit();
      const engine = kit.open();
      engine.createTopic('orders', { queueCount: 1 });
      const offline = await collect(engine, 'g', 'orders');
      await offline.close();
      engine.expandQueues('orders', 3);
      await engine.publish(Array.from({ length: 6 }, (_, i) => ({ topic: 'orders', body: `m${i}` })));
      const dir = engine.options.dataDir;
      await engine.close();

      const reopened = kit.open({ dataDir: dir });
      expect(reopened.getTopic('orders')!.queueCount).toBe(3);
      const back = await collect(reopened, 'g', 'orders');
      await until(() => back.seen.length === 6, 5000, 'messages of every queue');
      expect(new Set(back.seen.map((d) => d.queueId))).toEqual(new Set([0, 1, 2]));
    });
  });

  describe('redistributeBacklog', () => {
    it("moves only the group's unconsumed backlog, keeping each key's order, and leaves other groups alone", async () => {
      kit = new EngineKit();
      const engine = kit.open();
      engine.createTopic('orders', { queueCount: 2 });
      engine.createTopic('orders.wide', { queueCount: 8 });

      // A second group that has joined before and is offline now: it must later get everything.
      const audit = await collect(engine, 'audit', 'orders');
      await audit.close();

      // The group consumes the first two messages of each key, then goes away.
      const slow = await collect(engine, 'slow', 'orders');
      await engine.publish(interleaved('orders', 2, 0));
      await until(() => slow.seen.length === 10, 5000, 'the first ten');
      await slow.close();

      // Its backlog piles up: ten more per key.
      await engine.publish(interleaved('orders', 10, 2));
      expect(engine.stats().groups.find((g) => g.group === 'slow' && g.topic === 'orders')!.lag).toBe(50);

      const { moved } = await engine.redistributeBacklog('slow', 'orders', 'orders.wide');
      expect(moved).toBe(50);
      await until(
        () => engine.stats().groups.find((g) => g.group === 'slow' && g.topic === 'orders')!.lag === 0,
        5000,
        'the moved backlog to count as consumed on the old topic',
      );
      const wide = engine.stats().topics.find((t) => t.topic === 'orders.wide')!;
      expect(wide.queues.reduce((sum, q) => sum + q.maxOffset, 0)).toBe(50);
      // The moved backlog is the group's on the wide topic at once, before any consumer of it has started.
      expect(engine.stats().groups.find((g) => g.group === 'slow' && g.topic === 'orders.wide')!.lag).toBe(50);
      expect(engine.previewOffsetReset('slow', 'orders.wide', Date.now() + 60_000).skipped).toBe(50);

      // The group now reads the wide topic and gets exactly its backlog, each key in order.
      const moved2 = await collect(engine, 'slow', 'orders.wide');
      await until(() => moved2.seen.length === 50, 5000, 'the moved backlog');
      await sleep(50);
      expect(moved2.seen).toHaveLength(50);
      const byKey = sequencesByKey(moved2.seen);
      for (const key of KEYS) expect(byKey.get(key), key).toEqual(range(2, 12));
      for (const delivery of moved2.seen) {
        expect(delivery.originalMessageId).toBe(`${delivery.key}-${text(delivery).split(':')[1]}`);
        expect(delivery.messageId).not.toBe(delivery.originalMessageId);
      }
      // Each key stays on one queue of the wide topic.
      for (const key of KEYS) {
        expect(new Set(moved2.seen.filter((d) => d.key === key).map((d) => d.queueId)).size, key).toBe(1);
      }

      // Back on the old topic, the group has nothing left to do.
      const again = await collect(engine, 'slow', 'orders');
      await sleep(200);
      expect(again.seen).toEqual([]);

      // The other group still gets every message of the old topic, in key order.
      const auditBack = await collect(engine, 'audit', 'orders');
      await until(() => auditBack.seen.length === 60, 5000, 'everything for the other group');
      const auditByKey = sequencesByKey(auditBack.seen);
      for (const key of KEYS) expect(auditByKey.get(key), key).toEqual(range(0, 12));
    });

    it('moves the backlog of a group offline since a restart, and the move survives another restart', async () => {
      kit = new EngineKit();
      const first = kit.open();
      first.createTopic('orders', { queueCount: 2 });
      first.createTopic('orders.wide', { queueCount: 8 });
      const slow = await collect(first, 'slow', 'orders');
      await first.publish(interleaved('orders', 1, 0));
      await until(() => slow.seen.length === 5, 5000, 'the first five');
      await first.publish(interleaved('orders', 4, 1));
      const dir = first.options.dataDir;
      await first.close();

      const second = kit.open({ dataDir: dir });
      expect(await second.redistributeBacklog('slow', 'orders', 'orders.wide')).toEqual({
        moved: 20,
        toTopic: 'orders.wide',
      });
      await second.close();

      const third = kit.open({ dataDir: dir });
      const wide = await collect(third, 'slow', 'orders.wide');
      const old = await collect(third, 'slow', 'orders');
      await until(() => wide.seen.length === 20, 5000, 'the moved backlog after the restart');
      await sleep(100);
      expect(old.seen).toEqual([]);
      expect(wide.seen).toHaveLength(20);
      const byKey = sequencesByKey(wide.seen);
      for (const key of KEYS) expect(byKey.get(key), key).toEqual(range(1, 5));
    });

    it('refuses the same topic twice, unknown topics and broadcasting groups', async () => {
      kit = new EngineKit();
      const engine = kit.open();
      engine.createTopic('a');
      engine.createTopic('b');
      await expect(engine.redistributeBacklog('g', 'a', 'a')).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(engine.redistributeBacklog('g', 'a', 'missing')).rejects.toBeInstanceOf(UnknownTopicError);
      await expect(engine.redistributeBacklog('bad name', 'a', 'b')).rejects.toThrow(/Invalid group name/);
      await engine.subscribe({ group: 'bc', topic: 'a', groupMode: 'broadcasting', handler: async () => undefined });
      await expect(engine.redistributeBacklog('bc', 'a', 'b')).rejects.toThrow(/broadcasting/);
    });
  });
});
