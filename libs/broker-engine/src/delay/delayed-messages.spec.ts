import { afterEach, describe, expect, it } from 'vitest';
import type { BrokerEngine, PublishMessage, PublishResult } from '@reliable-mq/engine';
import { EngineKit, sleep, tempDataDir, text, until } from '../../test/engine-test-kit';

/**
 * How late after its due time a message may reach the handler. The engine aims for a few
 * ms; the bound is loose because the reference machine has 2 cores shared with other runs.
 */
const LATE_SLACK_MS = 500;

interface Arrival {
  body: string;
  at: number;
}

async function listen(engine: BrokerEngine, topic: string): Promise<Arrival[]> {
  const arrivals: Arrival[] = [];
  await engine.subscribe({
    group: 'g',
    topic,
    startFrom: 'earliest',
    handler: async (delivery) => {
      arrivals.push({ body: text(delivery), at: Date.now() });
    },
  });
  return arrivals;
}

function expectOnTime(arrival: Arrival | undefined, result: PublishResult, label: string): void {
  expect(arrival, label).toBeDefined();
  const lateness = arrival!.at - result.deliverAt!;
  console.info(`[delay] ${label}: delivered ${lateness} ms after due`);
  expect(arrival!.at, `${label} must not arrive before it is due`).toBeGreaterThanOrEqual(result.deliverAt!);
  expect(lateness, `${label} lateness`).toBeLessThanOrEqual(LATE_SLACK_MS);
}

describe('delayed messages', () => {
  let kit: EngineKit;
  const cleanups: Array<() => void> = [];

  afterEach(async () => {
    await kit.dispose();
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  it('delivers delayMs, deliverAt and delayLevel messages no earlier than due and soon after', async () => {
    kit = new EngineKit();
    const engine = kit.open({ delayLevels: '250ms 2s' });
    engine.createTopic('orders');
    const arrivals = await listen(engine, 'orders');

    const before = Date.now();
    const messages: PublishMessage[] = [
      { topic: 'orders', body: 'by-delayMs', delayMs: 300 },
      { topic: 'orders', body: 'by-deliverAt', deliverAt: before + 400 },
      { topic: 'orders', body: 'by-delayLevel', delayLevel: 1 },
      { topic: 'orders', body: 'now' },
    ];
    const results = await engine.publish(messages);
    const after = Date.now();

    // Confirms of delayed messages carry -1 and the due instant; the immediate one has a real offset.
    for (const result of results.slice(0, 3)) {
      expect(result.queueOffset).toBe(-1);
      expect(result.deliverAt).toEqual(expect.any(Number));
    }
    expect(results[0]!.deliverAt).toBeGreaterThanOrEqual(before + 300);
    expect(results[0]!.deliverAt).toBeLessThanOrEqual(after + 300);
    expect(results[1]!.deliverAt).toBe(before + 400);
    expect(results[2]!.deliverAt).toBeGreaterThanOrEqual(before + 250);
    expect(results[2]!.deliverAt).toBeLessThanOrEqual(after + 250);
    expect(results[3]!.queueOffset).toBe(0);
    expect(results[3]!.deliverAt).toBeUndefined();
    expect(engine.stats().scheduledPending).toBe(3);

    await until(() => arrivals.length === 4, 5000, 'all four messages');
    const find = (body: string): Arrival | undefined => arrivals.find((a) => a.body === body);
    expect(arrivals[0]!.body).toBe('now');
    expectOnTime(find('by-delayMs'), results[0]!, 'delayMs');
    expectOnTime(find('by-deliverAt'), results[1]!, 'deliverAt');
    expectOnTime(find('by-delayLevel'), results[2]!, 'delayLevel');
    expect(engine.stats().scheduledPending).toBe(0);
  });

  it('treats a zero delay or a past deliverAt as immediate', async () => {
    kit = new EngineKit();
    const engine = kit.open();
    engine.createTopic('orders');
    const results = await engine.publish([
      { topic: 'orders', body: 'a', delayMs: 0 },
      { topic: 'orders', body: 'b', deliverAt: Date.now() - 1000 },
    ]);
    for (const result of results) {
      expect(result.queueOffset).toBeGreaterThanOrEqual(0);
      expect(result.deliverAt).toBeUndefined();
    }
    expect(engine.stats().scheduledPending).toBe(0);
  });

  it('keeps a delayed message across close and reopen and delivers it after the reopen', async () => {
    kit = new EngineKit();
    const temp = tempDataDir();
    cleanups.push(temp.cleanup);
    const first = kit.open({ dataDir: temp.dir });
    first.createTopic('orders');
    const [result] = await first.publish([{ topic: 'orders', messageId: 'later', body: 'survives', delayMs: 700 }]);
    await first.close();

    const second = kit.open({ dataDir: temp.dir });
    expect(second.stats().scheduledPending).toBe(1);
    const arrivals = await listen(second, 'orders');
    await sleep(200);
    expect(arrivals).toEqual([]);
    await until(() => arrivals.length === 1, 5000, 'the delayed message after reopen');
    expect(arrivals[0]!.body).toBe('survives');
    expectOnTime(arrivals[0], result!, 'after reopen');
  });

  it('delivers a message that fell due while the engine was closed soon after the reopen', async () => {
    kit = new EngineKit();
    const temp = tempDataDir();
    cleanups.push(temp.cleanup);
    const first = kit.open({ dataDir: temp.dir });
    first.createTopic('orders');
    const [result] = await first.publish([{ topic: 'orders', body: 'overdue', delayMs: 150 }]);
    await first.close();
    await sleep(300);

    const second = kit.open({ dataDir: temp.dir });
    const reopenedAt = Date.now();
    const arrivals = await listen(second, 'orders');
    await until(() => arrivals.length === 1, 5000, 'the overdue message');
    expect(arrivals[0]!.at).toBeGreaterThanOrEqual(result!.deliverAt!);
    expect(arrivals[0]!.at - reopenedAt).toBeLessThanOrEqual(LATE_SLACK_MS);
  });
});
