import { type BrokerEngine, type Delivery, type SubscribeOptions, type Subscription } from '@reliable-mq/engine';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineKit, sleep, tempDataDir, text, until } from '../../test/engine-test-kit';
import { gate, ManualClock, type Gate } from '../../test/manual-clock';
import { pauseHeartbeat } from './heartbeat-pause';

interface Seen {
  member: string;
  delivery: Delivery;
}

/** Subscribes a member whose handler records every delivery and succeeds at once. */
async function recorder(
  engine: BrokerEngine,
  seen: Seen[],
  options: Omit<SubscribeOptions, 'handler'> & { memberId: string },
) {
  return engine.subscribe({
    ...options,
    handler: async (delivery) => {
      seen.push({ member: options.memberId, delivery });
    },
  });
}

async function publishTexts(engine: BrokerEngine, topic: string, bodies: string[], key?: (body: string) => string) {
  for (const body of bodies) await engine.publish([{ topic, body, ...(key ? { key: key(body) } : {}) }]);
}

const bodies = (prefix: string, count: number): string[] => Array.from({ length: count }, (_, i) => `${prefix}${i}`);
const sorted = (values: string[]): string[] => [...values].sort();
const topicQueues = (queues: string[], topic: string): string[] => queues.filter((q) => q.startsWith(`${topic}:`));

describe('consumer groups', () => {
  let kit: EngineKit;
  const dirs: Array<() => void> = [];

  beforeEach(() => {
    kit = new EngineKit();
  });

  afterEach(async () => {
    await kit.dispose();
    for (const cleanup of dirs.splice(0)) cleanup();
  });

  function sharedDir(): string {
    const temp = tempDataDir();
    dirs.push(temp.cleanup);
    return temp.dir;
  }

  describe('clustering', () => {
    it('hands each message to exactly one member of a group, while a second group gets every message', async () => {
      const engine = kit.open();
      engine.createTopic('orders', { queueCount: 4 });
      const seenA: Seen[] = [];
      const seenB: Seen[] = [];
      await recorder(engine, seenA, { group: 'billing', topic: 'orders', memberId: 'a1' });
      await recorder(engine, seenA, { group: 'billing', topic: 'orders', memberId: 'a2' });
      await recorder(engine, seenA, { group: 'billing', topic: 'orders', memberId: 'a3' });
      await recorder(engine, seenB, { group: 'shipping', topic: 'orders', memberId: 'b1' });
      const sent = bodies('o', 60);
      await publishTexts(engine, 'orders', sent);

      await until(() => seenA.length >= 60 && seenB.length >= 60, 10_000, 'both groups to consume everything');
      await sleep(50);
      expect(sorted(seenA.map((s) => text(s.delivery)))).toEqual(sorted(sent));
      expect(sorted(seenB.map((s) => text(s.delivery)))).toEqual(sorted(sent));
      // Every queue is owned by one member, so one message never reaches two members of the group.
      const membersPerQueue = new Map<number, Set<string>>();
      for (const { member, delivery } of seenA) {
        membersPerQueue.set(delivery.queueId, (membersPerQueue.get(delivery.queueId) ?? new Set()).add(member));
      }
      for (const members of membersPerQueue.values()) expect(members.size).toBe(1);
      expect(new Set(seenA.map((s) => s.member)).size).toBeGreaterThan(1);
    });
  });

  describe('broadcasting', () => {
    it('gives every member every message and keeps offsets per member id across a reopen', async () => {
      const dataDir = sharedDir();
      let engine = kit.open({ dataDir });
      engine.createTopic('prices', { queueCount: 2 });
      const seen: Seen[] = [];
      const broadcast = { group: 'caches', topic: 'prices', groupMode: 'broadcasting' as const };
      await recorder(engine, seen, { ...broadcast, memberId: 'cache-1' });
      await recorder(engine, seen, { ...broadcast, memberId: 'cache-2' });
      const first = bodies('p', 6);
      await publishTexts(engine, 'prices', first);
      await until(() => seen.length >= 12, 5000, 'both members to get every message');
      for (const member of ['cache-1', 'cache-2']) {
        expect(sorted(seen.filter((s) => s.member === member).map((s) => text(s.delivery)))).toEqual(sorted(first));
      }
      await engine.close();

      engine = kit.open({ dataDir });
      const later = bodies('q', 3);
      // Published while nobody listens: only a stored per-member offset lets the members find them.
      await publishTexts(engine, 'prices', later);
      seen.length = 0;
      await recorder(engine, seen, { ...broadcast, memberId: 'cache-1' });
      await until(() => seen.length >= 3, 5000, 'cache-1 to resume from its own offsets');
      await sleep(50);
      expect(sorted(seen.map((s) => text(s.delivery)))).toEqual(sorted(later));

      seen.length = 0;
      await recorder(engine, seen, { ...broadcast, memberId: 'cache-2' });
      await until(() => seen.length >= 3, 5000, 'cache-2 to resume from its own offsets');
      await sleep(50);
      expect(sorted(seen.map((s) => text(s.delivery)))).toEqual(sorted(later));

      // A member id never seen before has no offsets of its own: it starts at the end, then gets every new message.
      seen.length = 0;
      await recorder(engine, seen, { ...broadcast, memberId: 'cache-3' });
      await publishTexts(engine, 'prices', ['r0', 'r1']);
      await until(() => seen.filter((s) => s.delivery.body.toString() === 'r1').length >= 3, 5000, 'all members');
      await sleep(50);
      for (const member of ['cache-1', 'cache-2', 'cache-3']) {
        expect(sorted(seen.filter((s) => s.member === member).map((s) => text(s.delivery)))).toEqual(['r0', 'r1']);
      }
    });
  });

  describe('broadcasting members that leave and come back', () => {
    it('resume from their own offsets within the same engine and after a reopen', async () => {
      const dataDir = sharedDir();
      let engine = kit.open({ dataDir });
      engine.createTopic('prices', { queueCount: 2 });
      const seen: Seen[] = [];
      const broadcast = { group: 'caches', topic: 'prices', groupMode: 'broadcasting' as const, memberId: 'cache-1' };
      let sub = await recorder(engine, seen, broadcast);
      await publishTexts(engine, 'prices', ['p0', 'p1']);
      await until(() => seen.length >= 2, 5000, 'first messages');
      await sub.close();
      await publishTexts(engine, 'prices', ['away0', 'away1']);
      sub = await recorder(engine, seen, broadcast);
      await until(() => seen.length >= 4, 5000, 'messages sent while away');
      await engine.close();

      engine = kit.open({ dataDir });
      sub = await recorder(engine, seen, broadcast);
      await publishTexts(engine, 'prices', ['r0']);
      await until(() => seen.length >= 5, 5000, 'after reopen');
      await sub.close();
      await publishTexts(engine, 'prices', ['away2']);
      await recorder(engine, seen, broadcast);
      await until(() => seen.length >= 6, 5000, 'messages sent while away after reopen');
      await sleep(100);
      expect(seen.map((s) => text(s.delivery))).toEqual(['p0', 'p1', 'away0', 'away1', 'r0', 'away2']);
    });
  });

  describe('offsets', () => {
    it('are durable per (group, topic, queue): after a clean close nothing acked is delivered again', async () => {
      const dataDir = sharedDir();
      let engine = kit.open({ dataDir });
      engine.createTopic('t1', { queueCount: 4 });
      engine.createTopic('t2', { queueCount: 3 });
      const seen: Seen[] = [];
      const subscribeAll = async (target: BrokerEngine) => {
        await recorder(target, seen, { group: 'g', topic: 't1', memberId: 'g-1' });
        await recorder(target, seen, { group: 'g', topic: 't2', memberId: 'g-1' });
        await recorder(target, seen, { group: 'h', topic: 't1', memberId: 'h-1' });
      };
      await subscribeAll(engine);
      await publishTexts(engine, 't1', bodies('a', 12), (body) => `k${body}`);
      await publishTexts(engine, 't2', bodies('b', 12), (body) => `k${body}`);
      await until(() => seen.length >= 36, 5000, 'first batch consumed');
      await engine.close();

      engine = kit.open({ dataDir });
      const stats = engine.stats().groups;
      for (const { group, topic, queues } of [
        { group: 'g', topic: 't1', queues: 4 },
        { group: 'g', topic: 't2', queues: 3 },
        { group: 'h', topic: 't1', queues: 4 },
      ]) {
        const row = stats.find((s) => s.group === group && s.topic === topic);
        expect(row?.lag, `${group}/${topic} lag`).toBe(0);
        expect(Object.keys(row?.committedOffsets ?? {}).length).toBe(queues);
      }
      // Published before anyone resubscribes: a lost offset would restart at 'latest' and miss them, or replay the rest.
      await publishTexts(engine, 't1', bodies('c', 4), (body) => `k${body}`);
      await publishTexts(engine, 't2', bodies('d', 4), (body) => `k${body}`);
      seen.length = 0;
      await subscribeAll(engine);
      await until(() => seen.length >= 12, 5000, 'second batch consumed');
      await sleep(100);
      const of = (member: string, topic: string) =>
        sorted(seen.filter((s) => s.member === member && s.delivery.topic === topic).map((s) => text(s.delivery)));
      expect(of('g-1', 't1')).toEqual(sorted(bodies('c', 4)));
      expect(of('g-1', 't2')).toEqual(sorted(bodies('d', 4)));
      expect(of('h-1', 't1')).toEqual(sorted(bodies('c', 4)));
      expect(seen).toHaveLength(12);
    });
  });

  describe('start position of a new group', () => {
    it("starts at the first retained message by default ('earliest') and at the end with 'latest'", async () => {
      const engine = kit.open();
      engine.createTopic('events', { queueCount: 2 });
      await publishTexts(engine, 'events', ['old1', 'old2', 'old3']);
      const latest: Seen[] = [];
      const earliest: Seen[] = [];
      await recorder(engine, latest, { group: 'late', topic: 'events', memberId: 'l', startFrom: 'latest' });
      await recorder(engine, earliest, { group: 'early', topic: 'events', memberId: 'e' });
      await publishTexts(engine, 'events', ['new1']);
      await until(() => latest.length >= 1 && earliest.length >= 4, 5000, 'both groups');
      await sleep(50);
      expect(latest.map((s) => text(s.delivery))).toEqual(['new1']);
      expect(sorted(earliest.map((s) => text(s.delivery)))).toEqual(['new1', 'old1', 'old2', 'old3']);
    });

    it("pins 'latest' at the first subscribe, so messages sent while the group is away are not skipped", async () => {
      const dataDir = sharedDir();
      let engine = kit.open({ dataDir });
      engine.createTopic('events', { queueCount: 2 });
      await publishTexts(engine, 'events', ['before']);
      const seen: Seen[] = [];
      const sub = await recorder(engine, seen, { group: 'late', topic: 'events', memberId: 'l', startFrom: 'latest' });
      await sub.close();
      await publishTexts(engine, 'events', ['away1']);
      await engine.close();
      engine = kit.open({ dataDir });
      await publishTexts(engine, 'events', ['away2']);
      await recorder(engine, seen, { group: 'late', topic: 'events', memberId: 'l', startFrom: 'latest' });
      await until(() => seen.length >= 2, 5000, 'messages sent while away');
      await sleep(50);
      expect(sorted(seen.map((s) => text(s.delivery)))).toEqual(['away1', 'away2']);
    });
  });

  describe('queue allocation', () => {
    it('spreads queues evenly over live members and moves them when members come and go', async () => {
      const engine = kit.open();
      engine.createTopic('work', { queueCount: 8 });
      const seen: Seen[] = [];
      const subs: Subscription[] = [];
      for (const id of ['w1', 'w2', 'w3'])
        subs.push(await recorder(engine, seen, { group: 'g', topic: 'work', memberId: id }));
      const owned = () => subs.map((sub) => topicQueues(sub.assignedQueues(), 'work'));
      const check = (expectedSizes: number[], live: number) => {
        const lists = owned().slice(0, live);
        expect(lists.map((list) => list.length)).toEqual(expectedSizes);
        const all = lists.flat();
        expect(new Set(all).size).toBe(all.length);
        expect(sorted(all)).toEqual(sorted(Array.from({ length: 8 }, (_, q) => `work:${q}`)));
      };
      check([3, 3, 2], 3);
      // The retry topic of the group is shared out the same way.
      const retry = subs.map((sub) => sub.assignedQueues().filter((q) => q.startsWith('%RETRY%g:')).length);
      expect(retry.reduce((a, b) => a + b, 0)).toBe(4);
      expect(Math.max(...retry) - Math.min(...retry)).toBeLessThanOrEqual(1);

      await subs[2]!.close();
      check([4, 4], 2);
      subs[2] = await recorder(engine, seen, { group: 'g', topic: 'work', memberId: 'w0' });
      // w0 sorts first and so takes the first run.
      expect(topicQueues(subs[2].assignedQueues(), 'work')).toEqual(['work:0', 'work:1', 'work:2']);
      check([3, 2, 3], 3);
    });

    it('takes the queues of a member that stops heartbeating past the session timeout, and gives them back', async () => {
      const clock = new ManualClock();
      const engine = kit.open({ clock, sessionTimeoutMs: 1000, maintenanceIntervalMs: 60_000 });
      engine.createTopic('work', { queueCount: 4 });
      const seen: Seen[] = [];
      const one = await recorder(engine, seen, { group: 'g', topic: 'work', memberId: 'm1' });
      const two = await recorder(engine, seen, { group: 'g', topic: 'work', memberId: 'm2' });
      expect(topicQueues(one.assignedQueues(), 'work')).toHaveLength(2);
      expect(topicQueues(two.assignedQueues(), 'work')).toHaveLength(2);

      pauseHeartbeat(one, true);
      clock.advance(999);
      engine.runMaintenance();
      expect(topicQueues(one.assignedQueues(), 'work')).toHaveLength(2);
      clock.advance(2);
      engine.runMaintenance();
      expect(one.assignedQueues()).toEqual([]);
      expect(topicQueues(two.assignedQueues(), 'work')).toHaveLength(4);

      await publishTexts(engine, 'work', bodies('x', 8));
      await until(() => seen.length >= 8, 5000, 'm2 to take everything');
      expect(new Set(seen.map((s) => s.member))).toEqual(new Set(['m2']));

      pauseHeartbeat(one, false);
      engine.runMaintenance();
      expect(topicQueues(one.assignedQueues(), 'work')).toHaveLength(2);
      expect(topicQueues(two.assignedQueues(), 'work')).toHaveLength(2);
    });
  });

  describe('rebalancing with messages in flight', () => {
    it('never hands an in-flight message to a second member; only the consume timeout redelivers it', async () => {
      const clock = new ManualClock();
      const engine = kit.open({
        clock,
        sessionTimeoutMs: 1000,
        consumeTimeoutMs: 10_000,
        maintenanceIntervalMs: 60_000,
      });
      engine.createTopic('jobs', { queueCount: 1 });
      const gates = new Map<string, Gate>();
      for (const body of ['hold1', 'hold2', 'hold3']) gates.set(body, gate());
      const deliveries: Array<{ member: string; body: string; deliveryCount: number }> = [];
      const running = new Map<string, number>();
      const overlaps: string[] = [];
      const handlerFor = (member: string) => async (delivery: Delivery) => {
        const body = text(delivery);
        deliveries.push({ member, body, deliveryCount: delivery.deliveryCount });
        const active = (running.get(body) ?? 0) + 1;
        running.set(body, active);
        if (active > 1) overlaps.push(`${body}#${delivery.deliveryCount}@${member}`);
        try {
          await gates.get(body)?.promise;
        } finally {
          running.set(body, (running.get(body) ?? 1) - 1);
        }
      };
      const deliveredOf = (body: string) => deliveries.filter((d) => d.body === body);
      // Allocation sorts member ids, so the newcomer "m1" takes the only queue from "m2".
      const m2 = await engine.subscribe({ group: 'g', topic: 'jobs', memberId: 'm2', handler: handlerFor('m2') });
      await publishTexts(engine, 'jobs', ['hold1']);
      await until(() => deliveredOf('hold1').length === 1, 5000, 'hold1 delivered to m2');

      // 1) A second member joins and takes the queue while hold1 is still running on m2.
      const m1 = await engine.subscribe({ group: 'g', topic: 'jobs', memberId: 'm1', handler: handlerFor('m1') });
      expect(topicQueues(m1.assignedQueues(), 'jobs')).toEqual(['jobs:0']);
      expect(topicQueues(m2.assignedQueues(), 'jobs')).toEqual([]);
      await publishTexts(engine, 'jobs', ['after1', 'after2']);
      await until(() => deliveredOf('after2').length === 1, 5000, 'm1 to consume new messages');
      await sleep(30);
      expect(deliveredOf('hold1')).toEqual([{ member: 'm2', body: 'hold1', deliveryCount: 1 }]);
      expect(deliveredOf('after1').map((d) => d.member)).toEqual(['m1']);
      gates.get('hold1')!.open();
      await until(() => engine.stats().groups.find((s) => s.topic === 'jobs')?.committedOffsets[0] === 3, 5000, 'acks');

      // 2) The owner stops heartbeating while its handler runs: the queue moves, the message does not.
      await publishTexts(engine, 'jobs', ['hold2']);
      await until(() => deliveredOf('hold2').length === 1, 5000, 'hold2 delivered to m1');
      expect(deliveredOf('hold2')[0]!.member).toBe('m1');
      pauseHeartbeat(m1, true);
      clock.advance(1500);
      engine.runMaintenance();
      expect(topicQueues(m2.assignedQueues(), 'jobs')).toEqual(['jobs:0']);
      await publishTexts(engine, 'jobs', ['after3']);
      await until(() => deliveredOf('after3').length === 1, 5000, 'm2 to consume after the expiry');
      await sleep(30);
      expect(deliveredOf('after3')[0]!.member).toBe('m2');
      expect(deliveredOf('hold2')).toHaveLength(1);
      gates.get('hold2')!.open();
      await until(() => engine.stats().groups.find((s) => s.topic === 'jobs')?.committedOffsets[0] === 5, 5000, 'acks');
      await sleep(30);
      expect(deliveredOf('hold2')).toHaveLength(1);

      // 3) The one exception: a handler that outlives the consume timeout is redelivered.
      await publishTexts(engine, 'jobs', ['hold3']);
      await until(() => deliveredOf('hold3').length === 1, 5000, 'hold3 delivered');
      clock.advance(9_000);
      engine.runMaintenance();
      await sleep(30);
      expect(deliveredOf('hold3')).toHaveLength(1);
      clock.advance(1_001);
      engine.runMaintenance();
      await until(() => deliveredOf('hold3').length === 2, 5000, 'hold3 redelivered after the consume timeout');
      expect(deliveredOf('hold3')[1]!.deliveryCount).toBe(2);
      expect(overlaps).toEqual(['hold3#2@m2']);
      gates.get('hold3')!.open();
      await until(() => engine.stats().groups.find((s) => s.topic === 'jobs')?.committedOffsets[0] === 6, 5000, 'acks');
      await sleep(30);
      expect(deliveries.filter((d) => d.body !== 'hold3').every((d) => d.deliveryCount === 1)).toBe(true);
      expect(deliveries).toHaveLength(7);
    });
  });
});
