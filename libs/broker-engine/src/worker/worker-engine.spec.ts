import {
  EngineClosedError,
  InvalidArgumentError,
  InvalidNameError,
  UnknownTopicError,
  WorkerEngine,
  type Delivery,
  type WorkerEngineOptions,
} from '@reliable-mq/engine';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDataDir, text, until } from '../../test/engine-test-kit';
import { SkewedClock } from '../../test/manual-clock';

/**
 * What only the worker thread adds: errors, bytes, handlers, checkers and progress crossing between the threads, and
 * the engine's lifecycle seen from the application's thread. What the engine itself does is proven by the model
 * test, the crash test and the transport contract, which also run against a WorkerEngine.
 */
describe('WorkerEngine', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function open(options: Partial<WorkerEngineOptions> = {}): Promise<{ engine: WorkerEngine; errors: Error[] }> {
    const temp = tempDataDir();
    const errors: Error[] = [];
    const engine = await WorkerEngine.open({
      dataDir: temp.dir,
      minFreeDiskBytes: 0,
      onError: (error) => errors.push(error),
      ...options,
    });
    cleanups.push(temp.cleanup, () => engine.close(1000));
    return { engine, errors };
  }

  it("rejects with the engine's own error classes and codes, from the engine's thread", async () => {
    const { engine } = await open();
    const refused = await engine.publish([{ topic: 'nowhere', body: 'x' }]).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(UnknownTopicError);
    expect(refused).toMatchObject({ code: 'UNKNOWN_TOPIC', name: 'UnknownTopicError' });
    expect((refused as Error).message).toMatch(/nowhere/);
    await expect(engine.createTopic('bad name!')).rejects.toBeInstanceOf(InvalidNameError);
  });

  it('refuses bad options and a clock it cannot share before it starts a thread', async () => {
    await expect(WorkerEngine.open({ dataDir: '' })).rejects.toBeInstanceOf(InvalidArgumentError);
    const clock = { now: () => Date.now() };
    await expect(
      WorkerEngine.open({ dataDir: tempDataDir().dir, clock } as unknown as WorkerEngineOptions),
    ).rejects.toThrow(/SharedSkewClock/);
  });

  it('rejects open with the reason when the engine cannot open its database in its thread', async () => {
    const temp = tempDataDir();
    cleanups.push(temp.cleanup);
    const notADirectory = join(temp.dir, 'file');
    writeFileSync(notADirectory, 'not a directory');
    await expect(WorkerEngine.open({ dataDir: notADirectory, minFreeDiskBytes: 0 })).rejects.toThrow();
  });

  it('hands bodies over intact as Buffers (small pooled ones too) and confirms before the handler sees the message', async () => {
    const { engine } = await open();
    await engine.createTopic('bytes', { queueCount: 2 });
    const confirmed = new Set<string>();
    const seen: Array<{ delivery: Delivery; confirmedFirst: boolean }> = [];
    await engine.subscribe({
      group: 'g',
      topic: 'bytes',
      handler: async (delivery) => {
        seen.push({ delivery, confirmedFirst: confirmed.has(delivery.messageId) });
      },
    });
    const binary = Buffer.from([0, 255, 1, 254, 2]);
    // Small Buffers share Node's pool: the view must travel without the rest of the pool, and whole.
    const pooled = Buffer.from('pooled');
    expect(pooled.byteLength).toBeLessThan(pooled.buffer.byteLength);
    const results = await engine.publish([
      { topic: 'bytes', key: 'k', body: binary, headers: { h: 'v' } },
      { topic: 'bytes', key: 'k', body: pooled },
      { topic: 'bytes', body: 'text' },
    ]);
    for (const result of results) confirmed.add(result.messageId);
    await until(() => seen.length === 3, 5000, 'three deliveries');
    const byId = new Map(seen.map((entry) => [entry.delivery.messageId, entry]));
    const [first, second, third] = results.map((result) => byId.get(result.messageId)!);
    expect(Buffer.isBuffer(first!.delivery.body)).toBe(true);
    expect(first!.delivery.body.equals(binary)).toBe(true);
    expect(first!.delivery.headers).toMatchObject({ h: 'v' });
    expect(text(second!.delivery)).toBe('pooled');
    expect(text(third!.delivery)).toBe('text');
    expect(seen.every((entry) => entry.confirmedFirst)).toBe(true);
  });

  it("carries a handler's failure to the engine: retried, then a non-retryable one dead-lettered with its reason and body", async () => {
    const { engine } = await open();
    await engine.createTopic('fail');
    const attempts: number[] = [];
    await engine.subscribe({
      group: 'g',
      topic: 'fail',
      retry: { delayLevels: '1ms', maxReconsumeTimes: 5 },
      handler: async (delivery) => {
        attempts.push(delivery.reconsumeTimes);
        if (delivery.reconsumeTimes === 0) throw new Error('first attempt fails');
        throw Object.assign(new Error('malformed order'), { nonRetryable: true });
      },
    });
    await engine.publish([{ topic: 'fail', body: Buffer.from([7, 7]) }]);
    await until(() => attempts.length === 2, 5000, 'a retry');
    let letters = await engine.listDeadLetters({ group: 'g' });
    for (let i = 0; i < 100 && letters.total === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      letters = await engine.listDeadLetters({ group: 'g' });
    }
    expect(attempts).toEqual([0, 1]);
    expect(letters.items[0]).toMatchObject({ reason: expect.stringMatching(/malformed order/) });
    expect(Buffer.isBuffer(letters.items[0]!.body)).toBe(true);
    expect([...letters.items[0]!.body]).toEqual([7, 7]);
  });

  it("asks a transaction checker in the application's thread, and stops asking once it is unregistered", async () => {
    const clock = new SkewedClock();
    const { engine } = await open({ clock, transactionTimeoutMs: 1000, checkIntervalMs: 1000 });
    await engine.createTopic('tx');
    const delivered: string[] = [];
    await engine.subscribe({
      group: 'g',
      topic: 'tx',
      handler: async (delivery) => void delivered.push(text(delivery)),
    });
    const asked: string[] = [];
    const unregister = await engine.registerTransactionChecker('producers', async (half) => {
      asked.push(half.txId);
      expect(Buffer.isBuffer(half.body)).toBe(true);
      return 'commit';
    });
    const sent = await engine.sendHalf({ topic: 'tx', body: 'half' }, { producerGroup: 'producers' });
    clock.advance(5_000);
    await engine.runMaintenance();
    await until(() => delivered.length === 1, 5000, 'the checked-back message');
    expect(asked).toEqual([sent.txId]);
    expect(await engine.getHalfMessage(sent.txId)).toMatchObject({ state: 'committed', resolvedBy: 'checkback' });

    await unregister();
    const second = await engine.sendHalf({ topic: 'tx', body: 'unasked' }, { producerGroup: 'producers' });
    clock.advance(5_000);
    await engine.runMaintenance();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(asked).toEqual([sent.txId]);
    expect((await engine.getHalfMessage(second.txId))?.state).toBe('unresolved');
  });

  it("reports a backlog move's progress in the application's thread", async () => {
    const { engine } = await open();
    await engine.createTopic('orders', { queueCount: 2 });
    const member = await engine.subscribe({ group: 'slow', topic: 'orders', handler: async () => undefined });
    await member.close();
    await engine.publish(Array.from({ length: 300 }, (_, i) => ({ topic: 'orders', key: `k${i % 7}`, body: `${i}` })));
    const progress: number[] = [];
    const done = await engine.redistributeBacklog('slow', 'orders', {
      queueCount: 4,
      onProgress: (moved) => progress.push(moved),
    });
    expect(done.moved).toBe(300);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toBeLessThanOrEqual(300);
  });

  it('after close, every call rejects with EngineClosedError and closing again does nothing', async () => {
    const { engine } = await open();
    await engine.createTopic('t');
    const member = await engine.subscribe({ group: 'g', topic: 't', handler: async () => undefined });
    await engine.close(1000);
    expect(engine.isOpen).toBe(false);
    await expect(engine.publish([{ topic: 't', body: 'late' }])).rejects.toBeInstanceOf(EngineClosedError);
    await expect(engine.stats()).rejects.toBeInstanceOf(EngineClosedError);
    await engine.close();
    await member.close();
  });

  it('reopens the same data directory after a close with everything confirmed still there', async () => {
    const temp = tempDataDir();
    cleanups.push(temp.cleanup);
    const first = await WorkerEngine.open({ dataDir: temp.dir, minFreeDiskBytes: 0 });
    await first.createTopic('kept');
    await first.publish([
      { topic: 'kept', body: 'a' },
      { topic: 'kept', body: 'b' },
    ]);
    await first.close();
    const second = await WorkerEngine.open({ dataDir: temp.dir, minFreeDiskBytes: 0 });
    cleanups.push(() => second.close(1000));
    const seen: string[] = [];
    await second.subscribe({
      group: 'late',
      topic: 'kept',
      handler: async (delivery) => void seen.push(text(delivery)),
    });
    await until(() => seen.length === 2, 5000, 'both messages');
    expect(seen.sort()).toEqual(['a', 'b']);
  });
});
