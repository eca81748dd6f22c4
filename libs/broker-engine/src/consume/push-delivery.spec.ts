import { performance } from 'node:perf_hooks';
import { type BrokerEngine, type Delivery } from '@reliable-mq/engine';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineKit, sleep, tempDataDir, text, until } from '../../test/engine-test-kit';
import { gate, ManualClock, type Gate } from '../../test/manual-clock';

const committed = (engine: BrokerEngine, group: string, topic: string): Record<number, number> =>
  engine.stats().groups.find((s) => s.group === group && s.topic === topic)?.committedOffsets ?? {};

describe('push delivery', () => {
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

  it('never runs more than `prefetch` handlers at once per member, and does use that many', async () => {
    const engine = kit.open();
    engine.createTopic('work', { queueCount: 4 });
    const running = new Map<string, number>();
    const peak = new Map<string, number>();
    let done = 0;
    const handlerFor = (member: string) => async () => {
      const now = (running.get(member) ?? 0) + 1;
      running.set(member, now);
      peak.set(member, Math.max(peak.get(member) ?? 0, now));
      await sleep(15);
      running.set(member, (running.get(member) ?? 1) - 1);
      done++;
    };
    await engine.subscribe({ group: 'g', topic: 'work', memberId: 'a', prefetch: 3, handler: handlerFor('a') });
    await engine.subscribe({ group: 'g', topic: 'work', memberId: 'b', prefetch: 2, handler: handlerFor('b') });
    await engine.publish(Array.from({ length: 60 }, (_, i) => ({ topic: 'work', body: `m${i}` })));
    await until(() => done === 60, 15_000, 'all handled');
    expect(peak.get('a')).toBe(3);
    expect(peak.get('b')).toBe(2);
  });

  it('wakes a waiting consumer on publish, not on a housekeeping tick', async () => {
    const engine = kit.open({ maintenanceIntervalMs: 60_000 });
    engine.createTopic('ping', { queueCount: 2 });
    let arrived: (() => void) | null = null;
    await engine.subscribe({
      group: 'g',
      topic: 'ping',
      handler: async () => {
        arrived?.();
      },
    });
    const latencies: number[] = [];
    for (let i = 0; i < 21; i++) {
      await sleep(10);
      const got = new Promise<void>((resolve) => (arrived = resolve));
      const started = performance.now();
      await engine.publish([{ topic: 'ping', body: `p${i}` }]);
      await got;
      latencies.push(performance.now() - started);
    }
    latencies.sort((a, b) => a - b);
    const median = latencies[Math.floor(latencies.length / 2)]!;
    expect(median, `latencies ${latencies.map((l) => l.toFixed(1)).join(', ')}`).toBeLessThan(50);
  });

  it("acks only when the handler's promise resolves; a handler still pending at close is redelivered after reopen", async () => {
    const dataDir = sharedDir();
    let engine = kit.open({ dataDir });
    engine.createTopic('slow', { queueCount: 1 });
    const first = gate();
    const seen: Delivery[] = [];
    await engine.subscribe({
      group: 'g',
      topic: 'slow',
      handler: async (delivery) => {
        seen.push(delivery);
        if (text(delivery) === 'async-work') await first.promise;
        if (text(delivery) === 'never') await new Promise<void>(() => undefined);
      },
    });
    await engine.publish([{ topic: 'slow', body: 'async-work' }]);
    await until(() => seen.length === 1, 5000, 'delivery');
    await sleep(50);
    expect(committed(engine, 'g', 'slow')[0]).toBe(0);
    expect(engine.stats().groups.find((s) => s.topic === 'slow')?.inFlight).toBe(1);
    first.open();
    await until(() => committed(engine, 'g', 'slow')[0] === 1, 5000, 'ack after the promise resolved');

    await engine.publish([{ topic: 'slow', body: 'never' }]);
    await until(() => seen.length === 2, 5000, 'second delivery');
    await engine.close(100);

    engine = kit.open({ dataDir });
    const again: Delivery[] = [];
    await engine.subscribe({
      group: 'g',
      topic: 'slow',
      handler: async (delivery) => {
        again.push(delivery);
      },
    });
    await until(() => again.length === 1, 5000, 'redelivery after reopen');
    await sleep(50);
    expect(again.map(text)).toEqual(['never']);
    expect(again[0]!.messageId).toBe(seen[1]!.messageId);
  });

  describe('committed offset is the lowest unacked offset', () => {
    async function run(order: number[], pendingAtClose: number[]) {
      const dataDir = sharedDir();
      let engine = kit.open({ dataDir });
      engine.createTopic('q', { queueCount: 1 });
      const gates: Gate[] = Array.from({ length: 6 }, () => gate());
      const seen: number[] = [];
      await engine.subscribe({
        group: 'g',
        topic: 'q',
        handler: async (delivery) => {
          seen.push(delivery.queueOffset);
          await gates[delivery.queueOffset]!.promise;
        },
      });
      await engine.publish(Array.from({ length: 6 }, (_, i) => ({ topic: 'q', body: `m${i}` })));
      await until(() => seen.length === 6, 5000, 'all six in flight');
      for (const offset of order) {
        gates[offset]!.open();
        await sleep(5);
      }
      const lowestUnacked = Math.min(...pendingAtClose);
      await until(() => committed(engine, 'g', 'q')[0] === lowestUnacked, 5000, `committed offset ${lowestUnacked}`);
      await sleep(30);
      expect(committed(engine, 'g', 'q')[0]).toBe(lowestUnacked);
      await engine.close(50);

      engine = kit.open({ dataDir });
      const redelivered: number[] = [];
      await engine.subscribe({
        group: 'g',
        topic: 'q',
        handler: async (delivery) => {
          redelivered.push(delivery.queueOffset);
        },
      });
      await until(() => redelivered.length >= pendingAtClose.length, 5000, 'redelivery');
      await sleep(50);
      return redelivered;
    }

    it('acked out of order with the unacked ones last: exactly the unacked ones come back', async () => {
      const redelivered = await run([2, 0, 1, 3], [4, 5]);
      expect(redelivered).toEqual([4, 5]);
    });

    it('acked around gaps: the committed offset stops at the first gap, yet only the unacked ones come back', async () => {
      const redelivered = await run([3, 0, 5, 1], [2, 4]);
      expect(redelivered).toEqual([2, 4]);
    });
  });

  it('redelivers a message whose handler outlives the consume timeout, with deliveryCount 2', async () => {
    const clock = new ManualClock();
    const engine = kit.open({ clock, consumeTimeoutMs: 5000, maintenanceIntervalMs: 60_000 });
    engine.createTopic('t', { queueCount: 1 });
    const seen: Delivery[] = [];
    await engine.subscribe({
      group: 'g',
      topic: 't',
      handler: async (delivery) => {
        seen.push(delivery);
        if (delivery.deliveryCount === 1) await new Promise<void>(() => undefined);
      },
    });
    await engine.publish([{ topic: 't', body: 'stuck' }]);
    await until(() => seen.length === 1, 5000, 'first delivery');
    clock.advance(4999);
    engine.runMaintenance();
    await sleep(30);
    expect(seen).toHaveLength(1);
    clock.advance(2);
    engine.runMaintenance();
    await until(() => seen.length === 2, 5000, 'redelivery');
    expect(seen[1]!.messageId).toBe(seen[0]!.messageId);
    expect(seen[1]!.deliveryCount).toBe(2);
    expect(seen[1]!.reconsumeTimes).toBe(0);
    expect(seen[0]!.deliveryCount).toBe(1);
    await until(() => committed(engine, 'g', 't')[0] === 1, 5000, 'ack of the redelivery');
  });

  it('refills freed prefetch slots in the same turn, up to a bound, instead of one prefetch per turn', async () => {
    const engine = kit.open();
    engine.createTopic('turns', { queueCount: 1 });
    const total = 1500;
    for (let from = 0; from < total; from += 500) {
      await engine.publish(Array.from({ length: 500 }, (_, i) => ({ topic: 'turns', body: `m${from + i}` })));
    }
    let handled = 0;
    let handledInFirstTurn: number | undefined;
    await engine.subscribe({
      group: 'g',
      topic: 'turns',
      startFrom: 'earliest',
      prefetch: 2,
      handler: async () => {
        // The first delivery's turn ends with this callback: what was handled by then ran without yielding.
        if (handled++ === 0) setImmediate(() => (handledInFirstTurn = handled));
      },
    });
    await until(() => handled === total, 15_000, 'all handled');
    // One prefetch per turn would give 2; a turn that never yields would give all 1,500.
    expect(handledInFirstTurn).toBeGreaterThan(1000);
    expect(handledInFirstTurn).toBeLessThan(total);
  });
});
