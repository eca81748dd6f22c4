import { BACKLOG_METRICS } from '@reliable-mq/engine';
import { connect } from 'amqplib';
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { RABBITMQ_URL, describeWithService } from '../../../../../test/support/services';
import { message, rabbitMqTransportsClosedAfterEach, sleep, spec, until } from '../../../test/rabbitmq-transports';
import type { InboundHandler } from '../transport.interface';
import { readRabbitMqBacklog, type RabbitMqGroupBacklog } from './rabbitmq-backlog';
import type { RabbitMqTransport } from './rabbitmq.transport';

/** A handler that holds every message until released, recording what it took. */
function holding(): { handler: InboundHandler; taken: string[]; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const taken: string[] = [];
  return {
    taken,
    release,
    handler: async (inbound) => {
      taken.push(inbound.body.toString());
      await gate;
    },
  };
}

/** Publishes one message and says between which instants its publish time lies. */
async function publishTimed(
  transport: RabbitMqTransport,
  topic: string,
  body: string,
  key?: string,
): Promise<{ before: number; after: number }> {
  const before = Date.now();
  await transport.publish([message(topic, body, key === undefined ? {} : { key })]);
  return { before, after: Date.now() };
}

async function entryOf(transport: RabbitMqTransport, group: string, now?: number): Promise<RabbitMqGroupBacklog> {
  const entry = (await transport.backlog(now)).groups.find((one) => one.group === group);
  if (!entry) throw new Error(`no backlog entry for ${group}`);
  return entry;
}

describeWithService('rabbitmq', 'RabbitMQ transport backlog', () => {
  const transports = rabbitMqTransportsClosedAfterEach();

  it("counts the messages ready in each group's queues and in its DLQ", async () => {
    const prefix = `rmq-backlog-${randomUUID().slice(0, 8)}`;
    const transport = await transports(prefix);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const taken: string[] = [];
    await transport.subscribe(spec('orders', 'billing', { prefetch: 1 }), async (inbound) => {
      taken.push(inbound.body.toString());
      if (inbound.body.toString() === 'poison') throw Object.assign(new Error('never'), { nonRetryable: true });
      await gate;
    });
    const idle = await transport.backlog();
    expect(idle.deadLetters).toEqual([{ group: 'billing', messages: 0 }]);
    expect(idle.groups).toMatchObject([
      { group: 'billing', topic: 'orders', messages: 0, consumers: 1, heldHere: 0, lagMs: 0, oldestUnconsumedAt: null },
    ]);

    await transport.publish([message('orders', 'poison')]);
    await until(
      async () => (await transport.backlog()).deadLetters[0]!.messages === 1,
      'the poison message in the DLQ',
    );
    await transport.publish(['a', 'b', 'c'].map((body) => message('orders', body)));
    await until(() => taken.length === 2, 'the first message taken');
    // One is held by the handler (prefetch 1), unacked: RabbitMQ counts only the two still ready.
    const busy = await transport.backlog();
    expect(busy.groups).toMatchObject([{ group: 'billing', topic: 'orders', messages: 2, heldHere: 1 }]);
    expect(busy.deadLetters).toEqual([{ group: 'billing', messages: 1 }]);
    release();
    await until(async () => (await transport.backlog()).groups[0]!.messages === 0, 'the queue drained');
  });

  it('a slow consumer holding deliveries shows the age of the oldest, from its publish time, growing', async () => {
    const transport = await transports(`rmq-age-${randomUUID().slice(0, 8)}`);
    const slow = holding();
    await transport.subscribe(spec('orders', 'billing', { prefetch: 2 }), slow.handler);
    try {
      const first = await publishTimed(transport, 'orders', 'a');
      await sleep(300);
      await transport.publish(['b', 'c', 'd'].map((body) => message('orders', body)));
      await until(() => slow.taken.length === 2, 'two messages held');

      const now = Date.now();
      const entry = await entryOf(transport, 'billing', now);
      expect(entry).toMatchObject({
        messages: 2,
        consumers: 1,
        heldHere: 2,
        ageIsLowerBound: false,
        ageUnknownReason: null,
        consumeRateIsLowerBound: false,
      });
      // The oldest held message is "a", the first published; its time is the publish time, to the millisecond.
      expect(entry.oldestUnconsumedAt).toBeGreaterThanOrEqual(first.before);
      expect(entry.oldestUnconsumedAt).toBeLessThanOrEqual(first.after);
      expect(entry.lagMs).toBe(now - entry.oldestUnconsumedAt!);
      expect(entry.lagMs).toBeGreaterThanOrEqual(300);

      await sleep(500);
      const later = await entryOf(transport, 'billing');
      expect(later.oldestUnconsumedAt).toBe(entry.oldestUnconsumedAt);
      expect(later.lagMs! - entry.lagMs!).toBeGreaterThanOrEqual(500);
      expect(later.lagMs! - entry.lagMs!).toBeLessThan(2000);

      const points = await transport.brokerMetrics(new Set(['billing']), Date.now());
      const latency = points.find((point) => point.metric === BACKLOG_METRICS.consumerLagLatency);
      expect(latency?.value).toBeGreaterThanOrEqual(0.8);
      expect(latency?.value).toBeLessThan(5);
    } finally {
      slow.release();
    }
    await until(async () => (await entryOf(transport, 'billing')).heldHere === 0, 'everything settled');
    // Wait into the next second, so the meter's window holds every settle: 4 settles over 10 s.
    await sleep(1100);
    const drained = await entryOf(transport, 'billing');
    expect(drained).toMatchObject({ messages: 0, heldHere: 0, lagMs: 0, oldestUnconsumedAt: null });
    expect(drained.consumeRatePerSec).toBeCloseTo(0.4, 5);
  });

  it('a message back from a retry queue counts from its return to the queue, not from its first publish', async () => {
    const transport = await transports(`rmq-age-retry-${randomUUID().slice(0, 8)}`);
    let attempts = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    await transport.subscribe(spec('orders', 'billing', { prefetch: 1 }), async () => {
      attempts += 1;
      if (attempts === 1) {
        await sleep(1200);
        throw new Error('try again');
      }
      await gate;
    });
    try {
      const published = await publishTimed(transport, 'orders', 'a');
      await until(() => attempts === 2, 'the retry delivered', 15_000);
      const entry = await entryOf(transport, 'billing');
      // RabbitMQ stamps the return from the retry queue to the second (x-death), at least 1.2 s after the publish.
      expect(entry.oldestUnconsumedAt).toBeGreaterThan(published.after + 200);
      expect(entry.oldestUnconsumedAt).toBeLessThanOrEqual(Date.now());
      expect(entry.ageIsLowerBound).toBe(false);
    } finally {
      release();
    }
  });

  it('an orderly group: the single active consumer sees the exact age, the waiting instance says it cannot', async () => {
    const prefix = `rmq-age-orderly-${randomUUID().slice(0, 8)}`;
    const options = { topics: [{ name: 'ledger', queueCount: 1 }] };
    const active = await transports(prefix, options);
    const waiting = await transports(prefix, options);
    const held = holding();
    const idle = holding();
    await active.subscribe(spec('ledger', 'posting', { mode: 'orderly', prefetch: 1 }), held.handler);
    await waiting.subscribe(spec('ledger', 'posting', { mode: 'orderly', prefetch: 1 }), idle.handler);
    try {
      const first = await publishTimed(active, 'ledger', 'one', 'account-1');
      await sleep(200);
      await active.publish([message('ledger', 'two', { key: 'account-1' })]);
      await until(() => held.taken.length === 1, 'the active consumer to hold the first');
      await until(async () => (await entryOf(active, 'posting')).messages === 1, 'the second ready');

      const seen = await entryOf(active, 'posting');
      expect(seen).toMatchObject({
        messages: 1,
        consumers: 1,
        heldHere: 1,
        ageIsLowerBound: false,
        ageUnknownReason: null,
        consumeRateIsLowerBound: false,
      });
      expect(seen.oldestUnconsumedAt).toBeGreaterThanOrEqual(first.before);
      expect(seen.oldestUnconsumedAt).toBeLessThanOrEqual(first.after);

      const blind = await entryOf(waiting, 'posting');
      expect(idle.taken).toEqual([]);
      expect(blind).toMatchObject({ messages: 1, heldHere: 0, oldestUnconsumedAt: null, lagMs: null });
      expect(blind.ageUnknownReason).toMatch(/single active consumer is another instance/);
      expect(blind.consumeRateIsLowerBound).toBe(true);
      const points = await waiting.brokerMetrics(new Set(['posting']), Date.now());
      expect(points.map((point) => point.metric.name)).toContain(BACKLOG_METRICS.consumerLag.name);
      expect(points.map((point) => point.metric.name)).not.toContain(BACKLOG_METRICS.consumerLagLatency.name);
    } finally {
      held.release();
      idle.release();
    }
  });

  it('with a second consuming instance, each reports the age of what it holds as a lower bound', async () => {
    const prefix = `rmq-age-shared-${randomUUID().slice(0, 8)}`;
    const one = await transports(prefix);
    const two = await transports(prefix);
    const first = holding();
    const second = holding();
    await one.subscribe(spec('orders', 'billing', { prefetch: 1 }), first.handler);
    await two.subscribe(spec('orders', 'billing', { prefetch: 1 }), second.handler);
    try {
      const older = await publishTimed(one, 'orders', 'older');
      await until(() => first.taken.length + second.taken.length === 1, 'the older message held');
      await sleep(400);
      const newer = await publishTimed(one, 'orders', 'newer');
      await until(() => first.taken.length + second.taken.length === 2, 'the newer message held');

      const now = Date.now();
      const entries = [await entryOf(one, 'billing', now), await entryOf(two, 'billing', now)];
      for (const entry of entries) {
        expect(entry).toMatchObject({
          consumers: 2,
          heldHere: 1,
          ageIsLowerBound: true,
          ageUnknownReason: null,
          consumeRateIsLowerBound: true,
        });
      }
      // Whichever holds the older message reports its age: the largest of the lower bounds is the group's age.
      const holderOfOlder = first.taken[0] === 'older' ? entries[0]! : entries[1]!;
      const holderOfNewer = first.taken[0] === 'older' ? entries[1]! : entries[0]!;
      expect(holderOfOlder.oldestUnconsumedAt).toBeGreaterThanOrEqual(older.before);
      expect(holderOfOlder.oldestUnconsumedAt).toBeLessThanOrEqual(older.after);
      expect(holderOfNewer.oldestUnconsumedAt).toBeGreaterThanOrEqual(newer.before);
      expect(holderOfNewer.oldestUnconsumedAt).toBeLessThanOrEqual(newer.after);
      expect(Math.max(...entries.map((entry) => entry.lagMs!))).toBe(now - holderOfOlder.oldestUnconsumedAt!);
    } finally {
      first.release();
      second.release();
    }
  });

  it('a queue with ready messages that this instance does not consume has no known age, and says why', async () => {
    const prefix = `rmq-age-none-${randomUUID().slice(0, 8)}`;
    const transport = await transports(prefix);
    const subscription = await transport.subscribe(spec('orders', 'billing'), async () => undefined);
    const queue = transport.names.groupQueue('billing', 'orders');
    await subscription.close();
    await transport.publish(['a', 'b'].map((body) => message('orders', body)));

    const connection = await connect(RABBITMQ_URL);
    try {
      const backlog = await readRabbitMqBacklog(connection, {
        work: [
          {
            group: 'billing',
            topic: 'orders',
            queues: [queue],
            singleActive: false,
            watches: [],
            consumeRatePerSec: 0,
          },
        ],
        deadLetters: [],
      });
      expect(backlog.groups).toEqual([
        {
          group: 'billing',
          topic: 'orders',
          messages: 2,
          consumers: 0,
          queues: 1,
          heldHere: 0,
          oldestUnconsumedAt: null,
          lagMs: null,
          ageIsLowerBound: false,
          ageUnknownReason: expect.stringMatching(/2 message\(s\) wait in .* this instance does not consume it now/),
          // No consumer anywhere: the group consumes nothing, which is exact.
          consumeRatePerSec: 0,
          consumeRateIsLowerBound: false,
        },
      ]);
    } finally {
      await connection.close();
    }
  });
});
