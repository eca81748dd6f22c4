import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, UnknownTopicError, type BrokerEngine, type Delivery } from '@reliable-mq/engine';
import { EngineKit, sleep, text, until } from '../../test/engine-test-kit';

/** A clock the test moves by hand, so that each batch has its own storage time. */
function manualClock(start: number): { now: () => number; set: (at: number) => void } {
  let at = start;
  return { now: () => at, set: (value) => (at = value) };
}

async function consume(
  engine: BrokerEngine,
  group: string,
  topic: string,
): Promise<{ seen: Delivery[]; close: () => Promise<void> }> {
  const seen: Delivery[] = [];
  const sub = await engine.subscribe({
    group,
    topic,
    handler: async (delivery) => {
      seen.push(delivery);
    },
  });
  return { seen, close: () => sub.close() };
}

const batch = (topic: string, prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => ({
    topic,
    key: `k${i % 7}`,
    messageId: `${prefix}-${i}`,
    body: `${prefix}-${i}`,
  }));

describe('resetOffsets', () => {
  let kit: EngineKit;

  afterEach(async () => {
    await kit.dispose();
  });

  it('skips exactly the unconsumed messages stored before the timestamp, and counts them first', async () => {
    kit = new EngineKit();
    const clock = manualClock(1_000_000);
    const engine = kit.open({ clock });
    engine.createTopic('orders', { queueCount: 3 });
    // The group consumed ten messages, then went away.
    const first = await consume(engine, 'slow', 'orders');
    await engine.publish(batch('orders', 'done', 10));
    await until(() => first.seen.length === 10, 5000, 'the first ten');
    await first.close();
    clock.set(2_000_000);
    await engine.publish(batch('orders', 'old', 40));
    clock.set(3_000_000);
    await engine.publish(batch('orders', 'new', 25));

    const plan = engine.previewOffsetReset('slow', 'orders', 3_000_000);
    expect(plan).toMatchObject({ skipped: 40, redelivered: 0, oldestSkippedAt: 2_000_000, newestSkippedAt: 2_000_000 });
    expect(engine.stats().groups.find((g) => g.group === 'slow')!.lag).toBe(65);

    const done = await engine.resetOffsets('slow', 'orders', 3_000_000);
    expect(done.skipped).toBe(40);
    expect(engine.stats().groups.find((g) => g.group === 'slow')!.lag).toBe(25);

    const back = await consume(engine, 'slow', 'orders');
    await until(() => back.seen.length === 25, 5000, 'the messages after the timestamp');
    await sleep(100);
    expect(back.seen.map(text).sort()).toEqual(Array.from({ length: 25 }, (_, i) => `new-${i}`).sort());
  });

  it('moves back and delivers again what was stored since, and the reset outlives a restart', async () => {
    kit = new EngineKit();
    const clock = manualClock(1_000_000);
    const engine = kit.open({ clock });
    engine.createTopic('orders', { queueCount: 2 });
    const first = await consume(engine, 'g', 'orders');
    await engine.publish(batch('orders', 'a', 6));
    clock.set(2_000_000);
    await engine.publish(batch('orders', 'b', 8));
    await until(() => first.seen.length === 14, 5000, 'all fourteen');
    await first.close();

    const plan = engine.previewOffsetReset('g', 'orders', 2_000_000);
    expect(plan).toMatchObject({ skipped: 0, redelivered: 8, oldestRedeliveredAt: 2_000_000 });
    await engine.resetOffsets('g', 'orders', 2_000_000);
    const dir = engine.options.dataDir;
    await engine.close();

    const reopened = kit.open({ dataDir: dir, clock });
    const again = await consume(reopened, 'g', 'orders');
    await until(() => again.seen.length === 8, 5000, 'the eight stored since');
    await sleep(100);
    expect(again.seen.map(text).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `b-${i}`).sort());
  });

  it('waits for in-flight messages of a live group before moving its offsets', async () => {
    kit = new EngineKit();
    const clock = manualClock(1_000_000);
    const engine = kit.open({ clock });
    engine.createTopic('orders', { queueCount: 1 });
    let release: () => void = () => undefined;
    const handled: string[] = [];
    const sub = await engine.subscribe({
      group: 'live',
      topic: 'orders',
      prefetch: 1,
      handler: async (delivery) => {
        if (handled.length === 0) await new Promise<void>((resolve) => (release = resolve));
        handled.push(text(delivery));
      },
    });
    await engine.publish(batch('orders', 'old', 5));
    clock.set(2_000_000);
    await engine.publish(batch('orders', 'new', 3));
    const reset = engine.resetOffsets('live', 'orders', 2_000_000);
    await sleep(50);
    release();
    const plan = await reset;
    // The first old message was in flight and finished; the other four were skipped.
    expect(plan.skipped).toBe(4);
    await until(() => handled.length === 4, 5000, 'the first and the three new');
    expect(handled).toEqual(['old-0', 'new-0', 'new-1', 'new-2']);
    await sub.close();
  });

  it('refuses unknown topics, bad timestamps and broadcasting groups', async () => {
    kit = new EngineKit();
    const engine = kit.open();
    engine.createTopic('a');
    expect(() => engine.previewOffsetReset('g', 'missing', 1)).toThrow(UnknownTopicError);
    expect(() => engine.previewOffsetReset('never', 'a', 1)).toThrow(
      /Group "never" has never subscribed to topic "a": it has no offsets to reset/,
    );
    expect(() => engine.previewOffsetReset('g', 'a', Number.NaN)).toThrow(InvalidArgumentError);
    await expect(engine.resetOffsets('bad name', 'a', 1)).rejects.toThrow(/Invalid group name/);
    await engine.subscribe({ group: 'bc', topic: 'a', groupMode: 'broadcasting', handler: async () => undefined });
    await expect(engine.resetOffsets('bc', 'a', 1)).rejects.toThrow(/broadcasting/);
  });
});
