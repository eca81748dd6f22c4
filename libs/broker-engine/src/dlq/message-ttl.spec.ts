import { afterEach, describe, expect, it } from 'vitest';
import type { BrokerEngine, Delivery } from '@reliable-mq/engine';
import { EngineKit, sleep, text, until } from '../../test/engine-test-kit';

async function collect(engine: BrokerEngine, group: string, topic: string, prefetch = 32): Promise<Delivery[]> {
  const seen: Delivery[] = [];
  await engine.subscribe({
    group,
    topic,
    startFrom: 'earliest',
    prefetch,
    handler: async (delivery) => {
      seen.push(delivery);
    },
  });
  return seen;
}

describe('message TTL', () => {
  let kit: EngineKit;

  afterEach(async () => {
    await kit.dispose();
  });

  it('does not deliver an expired message; it is dead-lettered as "expired" for each group', async () => {
    kit = new EngineKit();
    const engine = kit.open();
    engine.createTopic('quotes', { queueCount: 1 });
    const results = await engine.publish([
      { topic: 'quotes', messageId: 'short-lived', key: 'q1', tags: 'fx', body: 'stale quote', ttlMs: 30 },
      { topic: 'quotes', messageId: 'long-lived', body: 'fresh quote', ttlMs: 60_000 },
      { topic: 'quotes', messageId: 'no-ttl', body: 'no ttl' },
    ]);
    await sleep(80);

    const pricing = await collect(engine, 'pricing', 'quotes');
    const audit = await collect(engine, 'audit', 'quotes');
    await until(() => pricing.length === 2 && audit.length === 2, 5000, 'the live messages');
    await until(() => engine.listDeadLetters({ group: 'audit' }).total === 1, 5000, 'the audit dead letter');
    await sleep(50);
    expect(pricing.map(text)).toEqual(['fresh quote', 'no ttl']);
    expect(audit.map(text)).toEqual(['fresh quote', 'no ttl']);

    const page = engine.listDeadLetters({ group: 'pricing' });
    expect(page.total).toBe(1);
    expect(page.items[0]).toMatchObject({
      group: 'pricing',
      topic: 'quotes',
      messageId: 'short-lived',
      originalMessageId: 'short-lived',
      key: 'q1',
      tags: ['fx'],
      reason: 'expired',
      status: 'dead',
      reconsumeTimes: 0,
    });
    expect(page.items[0]!.body.toString()).toBe('stale quote');
    expect(engine.listDeadLetters({ group: 'audit', reasonContains: 'expired' }).items.map((l) => l.messageId)).toEqual(
      ['short-lived'],
    );
    expect(engine.listDeadLetters({ group: 'nobody' }).total).toBe(0);

    // The expired message counts as handled: the groups' offsets move past it.
    await until(
      () =>
        engine
          .stats()
          .groups.filter((g) => g.topic === 'quotes')
          .every((g) => g.lag === 0),
      5000,
      'lag 0',
    );
    const pricingStats = engine.stats().groups.find((g) => g.group === 'pricing' && g.topic === 'quotes')!;
    expect(pricingStats.committedOffsets[0]).toBe(3);
    expect(pricingStats.dlqCount).toBe(1);
    expect(results[0]!.queueOffset).toBe(0);
  });

  it('expires a message that waits behind a slow one', async () => {
    kit = new EngineKit();
    const engine = kit.open();
    engine.createTopic('quotes', { queueCount: 1 });
    const handled: string[] = [];
    await engine.subscribe({
      group: 'slow',
      topic: 'quotes',
      prefetch: 1,
      startFrom: 'earliest',
      handler: async (delivery) => {
        if (text(delivery) === 'slow') await sleep(250);
        handled.push(text(delivery));
      },
    });
    await engine.publish([
      { topic: 'quotes', body: 'slow' },
      { topic: 'quotes', messageId: 'waits', body: 'expires while waiting', ttlMs: 50 },
      { topic: 'quotes', body: 'after' },
    ]);
    await until(() => handled.includes('after'), 5000, 'the last message');
    expect(handled).toEqual(['slow', 'after']);
    await until(() => engine.listDeadLetters({ group: 'slow' }).total === 1, 5000, 'the dead letter');
    expect(engine.listDeadLetters({ group: 'slow' }).items[0]).toMatchObject({ messageId: 'waits', reason: 'expired' });
  });

  it('expires a delayed message whose TTL ran out before it became due', async () => {
    kit = new EngineKit();
    const engine = kit.open();
    engine.createTopic('quotes');
    const seen = await collect(engine, 'g', 'quotes');
    await engine.publish([
      { topic: 'quotes', messageId: 'too-late', body: 'late', delayMs: 150, ttlMs: 50 },
      { topic: 'quotes', messageId: 'in-time', body: 'in time', delayMs: 150, ttlMs: 60_000 },
    ]);
    await until(() => seen.length === 1 && engine.listDeadLetters({ group: 'g' }).total === 1, 5000, 'both outcomes');
    await sleep(50);
    expect(seen.map((d) => d.messageId)).toEqual(['in-time']);
    expect(engine.listDeadLetters({ group: 'g' }).items[0]).toMatchObject({ messageId: 'too-late', reason: 'expired' });
  });
});
