import { afterEach, describe, expect, it } from 'vitest';
import type { BrokerEngine, GroupTopicStats } from '@reliable-mq/engine';
import { EngineKit, text, until } from '../../test/engine-test-kit';

const groupStats = (engine: BrokerEngine, group: string, topic: string): GroupTopicStats | undefined =>
  engine.stats().groups.find((g) => g.group === group && g.topic === topic);

describe('stats', () => {
  let kit: EngineKit;

  afterEach(async () => {
    await kit.dispose();
  });

  it('reports per-queue offsets, per-group offsets, lag, in-flight and rates', async () => {
    kit = new EngineKit();
    const engine = kit.open();
    engine.createTopic('orders', { queueCount: 2 });
    expect(engine.stats().topics).toEqual([
      {
        topic: 'orders',
        publishRatePerSec: 0,
        queues: [
          { queueId: 0, minOffset: 0, maxOffset: 0 },
          { queueId: 1, minOffset: 0, maxOffset: 0 },
        ],
      },
    ]);

    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const handled: string[] = [];
    await engine.subscribe({
      group: 'billing',
      topic: 'orders',
      handler: async (delivery) => {
        await gate;
        handled.push(text(delivery));
      },
    });
    await engine.publish(Array.from({ length: 6 }, (_, i) => ({ topic: 'orders', body: `m${i}` })));

    const topic = engine.stats().topics.find((t) => t.topic === 'orders')!;
    expect(topic.queues).toEqual([
      { queueId: 0, minOffset: 0, maxOffset: 3 },
      { queueId: 1, minOffset: 0, maxOffset: 3 },
    ]);
    expect(topic.publishRatePerSec).toBeGreaterThan(0);

    await until(() => groupStats(engine, 'billing', 'orders')?.inFlight === 6, 5000, 'six in flight');
    const blocked = groupStats(engine, 'billing', 'orders')!;
    expect(blocked).toMatchObject({
      lag: 6,
      inFlight: 6,
      retryPending: 0,
      dlqCount: 0,
      committedOffsets: { 0: 0, 1: 0 },
    });
    expect(blocked.deliveryRatePerSec).toBeGreaterThan(0);

    release();
    await until(() => handled.length === 6, 5000, 'handlers to finish');
    await until(() => groupStats(engine, 'billing', 'orders')?.lag === 0, 5000, 'lag 0');
    expect(groupStats(engine, 'billing', 'orders')).toMatchObject({
      committedOffsets: { 0: 3, 1: 3 },
      lag: 0,
      inFlight: 0,
    });
    const stats = engine.stats();
    expect(stats.databaseBytes).toBeGreaterThan(0);
    expect(stats.scheduledPending).toBe(0);
  });

  it('counts retries waiting and dead letters per group, and delayed messages', async () => {
    kit = new EngineKit();
    const engine = kit.open();
    engine.createTopic('orders', { queueCount: 1 });
    const attempts: string[] = [];
    await engine.subscribe({
      group: 'flaky',
      topic: 'orders',
      retry: { delayLevels: '30s', maxReconsumeTimes: 3 },
      handler: async (delivery) => {
        attempts.push(text(delivery));
        if (text(delivery) === 'retry-me') throw new Error('try again later');
        if (text(delivery) === 'poison') throw Object.assign(new Error('cannot ever work'), { nonRetryable: true });
      },
    });
    await engine.publish([
      { topic: 'orders', body: 'ok' },
      { topic: 'orders', body: 'retry-me' },
      { topic: 'orders', body: 'poison' },
      { topic: 'orders', body: 'later', delayMs: 60_000 },
    ]);
    await until(
      () => {
        const g = groupStats(engine, 'flaky', 'orders');
        return g !== undefined && g.lag === 0 && g.retryPending === 1 && g.dlqCount === 1;
      },
      5000,
      'one retry pending and one dead letter',
    );
    expect(attempts.sort()).toEqual(['ok', 'poison', 'retry-me']);
    const flaky = groupStats(engine, 'flaky', 'orders')!;
    expect(flaky).toMatchObject({ committedOffsets: { 0: 3 }, lag: 0, inFlight: 0, retryPending: 1, dlqCount: 1 });
    // The delayed message and the retry copy both wait in the scheduler.
    expect(engine.stats().scheduledPending).toBe(2);
    // Retry topics are internal: they are not listed as a group's topic.
    expect(engine.stats().groups.map((g) => g.topic)).toEqual(['orders']);
  });

  it('shows the lag of a group that is offline', async () => {
    kit = new EngineKit();
    const engine = kit.open();
    engine.createTopic('orders', { queueCount: 2 });
    const sub = await engine.subscribe({ group: 'offline', topic: 'orders', handler: async () => undefined });
    await sub.close();
    await engine.publish(Array.from({ length: 5 }, (_, i) => ({ topic: 'orders', body: `m${i}` })));
    const dir = engine.options.dataDir;
    expect(groupStats(engine, 'offline', 'orders')).toMatchObject({
      lag: 5,
      inFlight: 0,
      committedOffsets: { 0: 0, 1: 0 },
    });
    await engine.close();
    const reopened = kit.open({ dataDir: dir });
    expect(groupStats(reopened, 'offline', 'orders')).toMatchObject({ lag: 5, committedOffsets: { 0: 0, 1: 0 } });
    expect(
      reopened
        .stats()
        .topics.find((t) => t.topic === 'orders')!
        .queues.map((q) => q.maxOffset),
    ).toEqual([3, 2]);
  });

  it('dates the oldest message a group has not consumed, and keeps figures of recent commits', async () => {
    kit = new EngineKit();
    let now = 1_000_000;
    const engine = kit.open({ clock: { now: () => now } });
    engine.createTopic('orders', { queueCount: 2 });
    const sub = await engine.subscribe({ group: 'slow', topic: 'orders', handler: async () => undefined });
    await sub.close();
    expect(groupStats(engine, 'slow', 'orders')?.oldestUnconsumedAt).toBeNull();
    await engine.publish([{ topic: 'orders', key: 'a', body: 'first' }]);
    now += 5_000;
    await engine.publish(Array.from({ length: 4 }, (_, i) => ({ topic: 'orders', key: `k${i}`, body: `m${i}` })));
    expect(groupStats(engine, 'slow', 'orders')).toMatchObject({ lag: 5, oldestUnconsumedAt: 1_000_000 });

    const handled: string[] = [];
    await engine.subscribe({
      group: 'slow',
      topic: 'orders',
      handler: async (delivery) => {
        handled.push(text(delivery));
      },
    });
    await until(() => groupStats(engine, 'slow', 'orders')?.lag === 0, 5000, 'lag 0');
    expect(groupStats(engine, 'slow', 'orders')?.oldestUnconsumedAt).toBeNull();

    const latency = engine.stats().commitLatency;
    expect(latency.commits).toBeGreaterThanOrEqual(2);
    expect(latency.totalMs).toBeGreaterThan(0);
    expect(latency.recent.commits).toBe(Math.min(latency.commits, 512));
    expect(latency.recent.p50Ms).toBeGreaterThan(0);
    expect(latency.recent.p50Ms).toBeLessThanOrEqual(latency.recent.p99Ms);
    expect(latency.recent.p99Ms).toBeLessThanOrEqual(latency.recent.maxMs);
  });
});
