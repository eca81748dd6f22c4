import {
  type BrokerEngine,
  type Delivery,
  HEADER_LAST_ERROR,
  HEADER_ORIGIN_TOPIC,
  HEADER_ORIGINAL_ID,
  HEADER_RECONSUME_TIMES,
  LAST_ERROR_LIMIT_BYTES,
} from '@reliable-mq/engine';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineKit, sleep, tempDataDir, text, until } from '../../test/engine-test-kit';
import { ManualClock } from '../../test/manual-clock';

describe('retry levels', () => {
  let kit: EngineKit;

  beforeEach(() => {
    kit = new EngineKit();
  });

  const dirs: Array<() => void> = [];

  afterEach(async () => {
    await kit.dispose();
    for (const cleanup of dirs.splice(0)) cleanup();
  });

  /** Opens an engine on a manual clock whose housekeeping runs only when the test calls it. */
  function manualEngine(): { engine: BrokerEngine; clock: ManualClock } {
    const clock = new ManualClock();
    const engine = kit.open({ clock, maintenanceIntervalMs: 60_000 });
    engine.createTopic('orders', { queueCount: 2 });
    return { engine, clock };
  }

  /** Advances the clock by `ms`, runs housekeeping and reports whether a new delivery arrived within a short wait. */
  async function stepAndCount(engine: BrokerEngine, clock: ManualClock, ms: number, seen: unknown[]): Promise<number> {
    const before = seen.length;
    clock.advance(ms);
    engine.runMaintenance();
    await sleep(40);
    return seen.length - before;
  }

  it('sends a failure to %RETRY%<group> at level 3 + reconsumeTimes of the default levels (10 s, then 30 s)', async () => {
    const { engine, clock } = manualEngine();
    const seen: Delivery[] = [];
    await engine.subscribe({
      group: 'billing',
      topic: 'orders',
      handler: async (delivery) => {
        seen.push(delivery);
        if (seen.length <= 2) throw new Error(`attempt ${seen.length} failed`);
      },
    });
    const [sent] = await engine.publish([{ topic: 'orders', key: 'o-1', body: 'pay', headers: { trace: 't-1' } }]);
    await until(() => seen.length === 1, 5000, 'first delivery');
    await until(() => engine.stats().scheduledPending === 1, 5000, 'the retry copy to be scheduled');
    expect(engine.stats().groups.find((g) => g.group === 'billing' && g.topic === 'orders')?.retryPending).toBe(1);

    expect(await stepAndCount(engine, clock, 9_999, seen)).toBe(0);
    clock.advance(1);
    engine.runMaintenance();
    await until(() => seen.length === 2, 5000, 'the retry after 10 s');
    const retry = seen[1]!;
    expect(retry.sourceTopic).toBe('%RETRY%billing');
    expect(retry.topic).toBe('orders');
    expect(retry.originalMessageId).toBe(sent!.messageId);
    expect(retry.messageId).not.toBe(sent!.messageId);
    expect(retry.reconsumeTimes).toBe(1);
    expect(retry.key).toBe('o-1');
    expect(retry.headers.trace).toBe('t-1');
    expect(retry.headers[HEADER_LAST_ERROR]).toBe('Error: attempt 1 failed');

    // The second failure waits level 4: 30 s.
    await until(() => engine.stats().scheduledPending === 1, 5000, 'the second retry copy');
    expect(await stepAndCount(engine, clock, 29_999, seen)).toBe(0);
    clock.advance(1);
    engine.runMaintenance();
    await until(() => seen.length === 3, 5000, 'the retry after 30 s');
    expect(seen[2]!.reconsumeTimes).toBe(2);
    expect(seen[2]!.originalMessageId).toBe(sent!.messageId);
    await until(
      () => engine.stats().groups.find((g) => g.topic === 'orders')?.retryPending === 0,
      5000,
      'no retry left',
    );
  });

  it('uses per-subscription levels from the first level on, repeating the last one', async () => {
    const { engine, clock } = manualEngine();
    const seen: Delivery[] = [];
    await engine.subscribe({
      group: 'billing',
      topic: 'orders',
      retry: { delayLevels: '100ms 250ms' },
      handler: async (delivery) => {
        seen.push(delivery);
        if (seen.length <= 3) throw new Error('again');
      },
    });
    await engine.publish([{ topic: 'orders', body: 'x' }]);
    await until(() => seen.length === 1, 5000, 'first delivery');
    for (const [index, delay] of [100, 250, 250].entries()) {
      await until(() => engine.stats().scheduledPending === 1, 5000, `retry ${index + 1} scheduled`);
      expect(await stepAndCount(engine, clock, delay - 1, seen), `before ${delay} ms`).toBe(0);
      clock.advance(1);
      engine.runMaintenance();
      await until(() => seen.length === index + 2, 5000, `retry ${index + 1} after ${delay} ms`);
      expect(seen[index + 1]!.reconsumeTimes).toBe(index + 1);
    }
  });

  it('gives up after maxReconsumeTimes into %DLQ%<group>, and only the failing group sees retries', async () => {
    const engine = kit.open();
    engine.createTopic('orders', { queueCount: 2 });
    const failing: Delivery[] = [];
    const healthy: Delivery[] = [];
    await engine.subscribe({
      group: 'billing',
      topic: 'orders',
      retry: { delayLevels: '10ms 20ms', maxReconsumeTimes: 3 },
      handler: async (delivery) => {
        failing.push(delivery);
        throw new Error('card declined');
      },
    });
    await engine.subscribe({
      group: 'audit',
      topic: 'orders',
      handler: async (delivery) => {
        healthy.push(delivery);
      },
    });
    const [sent] = await engine.publish([{ topic: 'orders', key: 'o-9', body: 'pay' }]);
    await until(() => engine.listDeadLetters({ group: 'billing' }).total === 1, 10_000, 'the dead letter');
    await sleep(100);

    expect(failing.map((d) => d.reconsumeTimes)).toEqual([0, 1, 2, 3]);
    expect(failing.every((d) => d.originalMessageId === sent!.messageId)).toBe(true);
    expect(failing.slice(1).every((d) => d.sourceTopic === '%RETRY%billing')).toBe(true);
    expect(healthy).toHaveLength(1);
    expect(healthy[0]!.messageId).toBe(sent!.messageId);

    const letter = engine.listDeadLetters({ group: 'billing' }).items[0]!;
    expect(letter.dlqTopic).toBe('%DLQ%billing');
    expect(letter.topic).toBe('orders');
    expect(letter.originalMessageId).toBe(sent!.messageId);
    expect(letter.key).toBe('o-9');
    expect(letter.reconsumeTimes).toBe(3);
    expect(letter.reason).toBe('Error: card declined');
    expect(letter.status).toBe('dead');
    expect(engine.listDeadLetters({ group: 'audit' }).total).toBe(0);
    const stats = engine.stats().groups;
    expect(stats.find((g) => g.group === 'billing' && g.topic === 'orders')?.dlqCount).toBe(1);
    expect(stats.find((g) => g.group === 'audit' && g.topic === 'orders')?.dlqCount).toBe(0);
  });

  it('sends a non-retryable error straight to the DLQ', async () => {
    const engine = kit.open();
    engine.createTopic('orders', { queueCount: 2 });
    const seen: Delivery[] = [];
    await engine.subscribe({
      group: 'billing',
      topic: 'orders',
      retry: { delayLevels: '10ms' },
      handler: async (delivery) => {
        seen.push(delivery);
        throw Object.assign(new Error('schema mismatch'), { nonRetryable: true });
      },
    });
    await engine.publish([{ topic: 'orders', body: 'bad' }]);
    await until(() => engine.listDeadLetters({ group: 'billing' }).total === 1, 5000, 'the dead letter');
    await sleep(60);
    expect(seen).toHaveLength(1);
    expect(engine.listDeadLetters().items[0]!.reconsumeTimes).toBe(0);
  });

  it('keeps origin topic, original id and attempt count in headers, with the last error cut to 1 KiB', async () => {
    const engine = kit.open();
    engine.createTopic('orders', { queueCount: 2 });
    const seen: Delivery[] = [];
    const huge = 'x'.repeat(5 * 1024);
    const wide = '€'.repeat(2000);
    await engine.subscribe({
      group: 'billing',
      topic: 'orders',
      retry: { delayLevels: '5ms', maxReconsumeTimes: 2 },
      handler: async (delivery) => {
        seen.push(delivery);
        throw new Error(delivery.reconsumeTimes === 0 ? huge : wide);
      },
    });
    const [sent] = await engine.publish([{ topic: 'orders', body: 'pay', headers: { tenant: 'acme' } }]);
    await until(() => engine.listDeadLetters({ group: 'billing' }).total === 1, 5000, 'the dead letter');
    expect(seen).toHaveLength(3);

    const first = seen[1]!.headers;
    expect(first[HEADER_ORIGIN_TOPIC]).toBe('orders');
    expect(first[HEADER_ORIGINAL_ID]).toBe(sent!.messageId);
    expect(first[HEADER_RECONSUME_TIMES]).toBe('1');
    expect(first.tenant).toBe('acme');
    const lastError = first[HEADER_LAST_ERROR]!;
    expect(Buffer.byteLength(lastError, 'utf8')).toBeLessThanOrEqual(LAST_ERROR_LIMIT_BYTES);
    expect(Buffer.byteLength(lastError, 'utf8')).toBeGreaterThan(LAST_ERROR_LIMIT_BYTES - 4);
    expect(`Error: ${huge}`.startsWith(lastError)).toBe(true);

    // A multi-byte message is cut on a character boundary.
    const second = seen[2]!.headers;
    expect(second[HEADER_RECONSUME_TIMES]).toBe('2');
    expect(second[HEADER_ORIGINAL_ID]).toBe(sent!.messageId);
    const cut = second[HEADER_LAST_ERROR]!;
    expect(Buffer.byteLength(cut, 'utf8')).toBeLessThanOrEqual(LAST_ERROR_LIMIT_BYTES);
    expect(cut).not.toContain('\uFFFD');
    expect(`Error: ${wide}`.startsWith(cut)).toBe(true);

    const letter = engine.listDeadLetters({ group: 'billing' }).items[0]!;
    expect(Buffer.byteLength(letter.reason, 'utf8')).toBeLessThanOrEqual(LAST_ERROR_LIMIT_BYTES);
    expect(letter.headers[HEADER_ORIGIN_TOPIC]).toBe('orders');
    expect(letter.headers[HEADER_ORIGINAL_ID]).toBe(sent!.messageId);
    expect(letter.headers.tenant).toBe('acme');
    expect(letter.reconsumeTimes).toBe(2);
  });

  describe('a failure that settles while the engine closes', () => {
    for (const outcome of ['retry', 'dead letter'] as const) {
      it(`is not delivered again after a reopen next to its ${outcome}`, async () => {
        const temp = tempDataDir();
        dirs.push(temp.cleanup);
        let engine = kit.open({ dataDir: temp.dir });
        engine.createTopic('orders', { queueCount: 1 });
        let closing: Promise<void> | null = null;
        await engine.subscribe({
          group: 'billing',
          topic: 'orders',
          retry: { delayLevels: '1ms' },
          handler: async () => {
            // The failure is written while close() waits for this handler.
            closing = engine.close();
            throw Object.assign(new Error('declined'), { nonRetryable: outcome === 'dead letter' });
          },
        });
        await engine.publish([{ topic: 'orders', body: 'pay' }]);
        await until(() => closing !== null, 5000, 'the handler to start closing');
        await closing;

        engine = kit.open({ dataDir: temp.dir });
        const again: Delivery[] = [];
        await engine.subscribe({
          group: 'billing',
          topic: 'orders',
          retry: { delayLevels: '1ms' },
          handler: async (delivery) => {
            again.push(delivery);
          },
        });
        await sleep(300);
        if (outcome === 'retry') {
          expect(again.map((d) => `${text(d)} from ${d.sourceTopic}`)).toEqual(['pay from %RETRY%billing']);
        } else {
          expect(again).toEqual([]);
          expect(engine.listDeadLetters({ group: 'billing' }).total).toBe(1);
        }
      });
    }
  });
});
