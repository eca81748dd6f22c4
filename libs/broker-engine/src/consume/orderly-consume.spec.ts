import { type BrokerEngine, type Delivery, HEADER_RESENT_FROM, stableHash } from '@reliable-mq/engine';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineKit, sleep, text, until } from '../../test/engine-test-kit';

/** Two keys that land on different queues of a two-queue topic. */
function keysForTwoQueues(): [string, string] {
  const a = 'key-a';
  for (let i = 0; ; i++) {
    const b = `key-b${i}`;
    if (stableHash(a) % 2 !== stableHash(b) % 2) return [a, b];
  }
}

interface Attempt {
  body: string;
  queueId: number;
  offset: number;
  at: number;
  deliveryCount: number;
  reconsumeTimes: number;
}

async function publishKeyed(engine: BrokerEngine, topic: string, items: Array<[key: string, body: string]>) {
  for (const [key, body] of items) await engine.publish([{ topic, key, body }]);
}

describe('orderly consumption', () => {
  let kit: EngineKit;
  const [keyA, keyB] = keysForTwoQueues();

  beforeEach(() => {
    kit = new EngineKit();
  });

  afterEach(async () => {
    await kit.dispose();
  });

  const attempt = (delivery: Delivery): Attempt => ({
    body: text(delivery),
    queueId: delivery.queueId,
    offset: delivery.queueOffset,
    at: Date.now(),
    deliveryCount: delivery.deliveryCount,
    reconsumeTimes: delivery.reconsumeTimes,
  });

  it('runs one message at a time per queue, in offset order, with queues in parallel', async () => {
    const engine = kit.open();
    engine.createTopic('ord', { queueCount: 2 });
    const attempts: Attempt[] = [];
    const running = new Map<number, number>();
    let peakPerQueue = 0;
    let peakOverall = 0;
    await engine.subscribe({
      group: 'g',
      topic: 'ord',
      mode: 'orderly',
      prefetch: 8,
      handler: async (delivery) => {
        attempts.push(attempt(delivery));
        const here = (running.get(delivery.queueId) ?? 0) + 1;
        running.set(delivery.queueId, here);
        peakPerQueue = Math.max(peakPerQueue, here);
        peakOverall = Math.max(
          peakOverall,
          [...running.values()].reduce((a, b) => a + b, 0),
        );
        await sleep(4);
        running.set(delivery.queueId, here - 1);
      },
    });
    const items: Array<[string, string]> = [];
    for (let i = 0; i < 10; i++) items.push([keyA, `a${i}`], [keyB, `b${i}`]);
    await engine.publish(items.map(([key, body]) => ({ topic: 'ord', key, body })));
    await until(() => attempts.length === 20, 10_000, 'all consumed');
    expect(peakPerQueue).toBe(1);
    expect(peakOverall).toBe(2);
    for (const prefix of ['a', 'b']) {
      const mine = attempts.filter((a) => a.body.startsWith(prefix));
      expect(mine.map((a) => a.body)).toEqual(Array.from({ length: 10 }, (_, i) => `${prefix}${i}`));
      expect(mine.map((a) => a.offset)).toEqual([...mine.map((a) => a.offset)].sort((x, y) => x - y));
    }
  });

  it('holds a failing queue for the default 1 s pause, then retries the same message before the next', async () => {
    const engine = kit.open();
    engine.createTopic('ord', { queueCount: 2 });
    const attempts: Attempt[] = [];
    await engine.subscribe({
      group: 'g',
      topic: 'ord',
      mode: 'orderly',
      handler: async (delivery) => {
        const a = attempt(delivery);
        attempts.push(a);
        if (a.body === 'a0' && a.deliveryCount === 1) throw new Error('first try fails');
      },
    });
    await publishKeyed(engine, 'ord', [
      [keyA, 'a0'],
      [keyA, 'a1'],
      [keyB, 'b0'],
    ]);
    await until(() => attempts.length === 4, 5000, 'retry and the rest');
    expect(attempts.map((a) => a.body).filter((b) => b.startsWith('a'))).toEqual(['a0', 'a0', 'a1']);
    const [failed, retried] = attempts.filter((a) => a.body === 'a0');
    const pause = retried!.at - failed!.at;
    expect(pause).toBeGreaterThanOrEqual(990);
    expect(pause).toBeLessThan(3000);
    // The other queue was served during the hold.
    expect(attempts.find((a) => a.body === 'b0')!.at).toBeLessThan(retried!.at);
    expect(retried!.deliveryCount).toBe(2);
    expect(retried!.reconsumeTimes).toBe(1);
  });

  it('retries after the configured pause up to maxReconsumeTimes, then dead-letters and moves on, never blocking other queues', async () => {
    const engine = kit.open();
    engine.createTopic('ord', { queueCount: 2 });
    const attempts: Attempt[] = [];
    await engine.subscribe({
      group: 'g',
      topic: 'ord',
      mode: 'orderly',
      retry: { orderlyRetryPauseMs: 150, maxReconsumeTimes: 2 },
      handler: async (delivery) => {
        const a = attempt(delivery);
        attempts.push(a);
        if (a.body === 'a0') throw new Error('boom on a0');
      },
    });
    const sent = await engine.publish([{ topic: 'ord', key: keyA, body: 'a0' }]);
    await publishKeyed(engine, 'ord', [
      [keyA, 'a1'],
      [keyA, 'a2'],
      ...Array.from({ length: 5 }, (_, i): [string, string] => [keyB, `b${i}`]),
    ]);
    await until(() => attempts.filter((a) => a.body === 'a2').length === 1, 10_000, 'the queue to move on');
    await sleep(50);

    const a0 = attempts.filter((a) => a.body === 'a0');
    expect(a0).toHaveLength(3);
    expect(a0.map((a) => a.deliveryCount)).toEqual([1, 2, 3]);
    expect(a0.map((a) => a.reconsumeTimes)).toEqual([0, 1, 2]);
    for (let i = 1; i < a0.length; i++) expect(a0[i]!.at - a0[i - 1]!.at).toBeGreaterThanOrEqual(140);
    const queueA = attempts.filter((a) => a.body.startsWith('a')).map((a) => a.body);
    expect(queueA).toEqual(['a0', 'a0', 'a0', 'a1', 'a2']);
    // Queue B finished while queue A was still held on a0.
    const lastB = Math.max(...attempts.filter((a) => a.body.startsWith('b')).map((a) => a.at));
    expect(attempts.filter((a) => a.body.startsWith('b')).map((a) => a.body)).toEqual(['b0', 'b1', 'b2', 'b3', 'b4']);
    expect(lastB).toBeLessThan(a0[1]!.at);

    const dead = engine.listDeadLetters({ group: 'g' });
    expect(dead.total).toBe(1);
    const letter = dead.items[0]!;
    expect(letter.dlqTopic).toBe('%DLQ%g');
    expect(letter.topic).toBe('ord');
    expect(letter.originalMessageId).toBe(sent[0]!.messageId);
    expect(letter.reason).toContain('boom on a0');
    // Same count as a concurrent subscription with the same policy: failed attempts before the last one.
    expect(letter.reconsumeTimes).toBe(2);
    // Orderly retries stay in place: nothing goes through the retry topic.
    expect(engine.stats().scheduledPending).toBe(0);
  });

  it('dead-letters a non-retryable failure at once and goes on with the queue', async () => {
    const engine = kit.open();
    engine.createTopic('ord', { queueCount: 2 });
    const attempts: Attempt[] = [];
    await engine.subscribe({
      group: 'g',
      topic: 'ord',
      mode: 'orderly',
      retry: { orderlyRetryPauseMs: 5_000 },
      handler: async (delivery) => {
        const a = attempt(delivery);
        attempts.push(a);
        if (a.body === 'a0') throw Object.assign(new Error('malformed'), { nonRetryable: true });
      },
    });
    await publishKeyed(engine, 'ord', [
      [keyA, 'a0'],
      [keyA, 'a1'],
    ]);
    await until(() => attempts.length === 2, 2000, 'the next message without a pause');
    expect(attempts.map((a) => a.body)).toEqual(['a0', 'a1']);
    const letter = engine.listDeadLetters({ group: 'g' }).items[0]!;
    expect(letter.reason).toContain('malformed');
    expect(letter.reconsumeTimes).toBe(0);
  });

  it('hands a resent dead letter back to the orderly group that gave up on it', async () => {
    const engine = kit.open();
    engine.createTopic('ord', { queueCount: 2 });
    const attempts: Attempt[] = [];
    const other: string[] = [];
    await engine.subscribe({
      group: 'g',
      topic: 'ord',
      mode: 'orderly',
      handler: async (delivery) => {
        attempts.push(attempt(delivery));
        if (delivery.headers[HEADER_RESENT_FROM] === undefined) {
          throw Object.assign(new Error('malformed'), { nonRetryable: true });
        }
      },
    });
    await engine.subscribe({
      group: 'audit',
      topic: 'ord',
      handler: async (delivery) => {
        other.push(text(delivery));
      },
    });
    await publishKeyed(engine, 'ord', [[keyA, 'a0']]);
    await until(() => engine.listDeadLetters({ group: 'g' }).total === 1, 5000, 'the dead letter');
    const letter = engine.listDeadLetters({ group: 'g' }).items[0]!;
    await engine.resendDeadLetters([letter.id]);
    await until(() => attempts.length === 2, 5000, 'the resent letter to be handled');
    await sleep(50);
    expect(attempts.map((a) => a.body)).toEqual(['a0', 'a0']);
    expect(engine.getDeadLetter(letter.id)!.status).toBe('resent');
    expect(engine.stats().groups.find((s) => s.group === 'g')?.retryPending).toBe(0);
    expect(other).toEqual(['a0']);
  });

  it('keeps the order of a key when a handler fails while its member is closing, also across a restart', async () => {
    const first = kit.open();
    const dataDir = first.options.dataDir;
    first.createTopic('ord', { queueCount: 1 });
    const handled: string[] = [];
    let failed = false;
    const member = (engine: BrokerEngine, handler: (delivery: Delivery) => Promise<void>) =>
      engine.subscribe({
        group: 'g',
        topic: 'ord',
        mode: 'orderly',
        memberId: 'm',
        retry: { delayLevels: '1ms', maxReconsumeTimes: 2, orderlyRetryPauseMs: 1 },
        handler,
      });
    const closing = await member(first, async (delivery) => {
      if (text(delivery) === 'a0' && !failed) {
        failed = true;
        // Fails only after the close below has begun (and removed the subscription) while it waits for this one.
        await sleep(30);
        throw new Error('planned');
      }
      handled.push(text(delivery));
    });
    await first.publish([
      { topic: 'ord', key: keyA, body: 'a0' },
      { topic: 'ord', key: keyA, body: 'a1' },
    ]);
    await until(() => failed, 5000, 'the first delivery');
    await closing.close(1000);
    await first.close(1000);
    const second = kit.open({ dataDir });
    await member(second, async (delivery) => {
      handled.push(text(delivery));
    });
    await until(() => handled.length >= 2, 5000, 'both messages');
    await sleep(50);
    expect(handled).toEqual(['a0', 'a1']);
  });
});
