import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  BatchTooLargeError,
  DATABASE_FILE,
  EngineClosedError,
  InvalidArgumentError,
  MessageTooLargeError,
  type BrokerEngine,
  type Delivery,
  type PublishMessage,
} from '@reliable-mq/engine';
import { EngineKit, sleep, text, until } from '../../test/engine-test-kit';

/** The engine's own connection: `synchronous` is per connection, so only it can tell. */
const connectionOf = (engine: BrokerEngine): Database.Database => (engine as unknown as { db: Database.Database }).db;

const totalStored = (engine: BrokerEngine, topic: string): number =>
  engine
    .stats()
    .topics.find((t) => t.topic === topic)!
    .queues.reduce((sum, q) => sum + q.maxOffset, 0);

describe('publish with confirms', () => {
  let kit: EngineKit;

  afterEach(async () => {
    await kit.dispose();
  });

  it('confirms with id, topic, queue and offset, and only once the batch is committed', async () => {
    kit = new EngineKit();
    const engine = kit.open();
    engine.createTopic('orders');
    const reader = new Database(join(engine.options.dataDir, DATABASE_FILE), { readonly: true });
    try {
      const count = (): number => (reader.prepare('SELECT COUNT(*) AS n FROM messages').get() as { n: number }).n;
      const pending = engine.publish([
        { topic: 'orders', messageId: 'order-1', key: 'A', body: 'one' },
        { topic: 'orders', body: 'two' },
      ]);
      let settled = false;
      void pending.then(() => {
        settled = true;
      });
      await Promise.resolve();
      expect(settled).toBe(false);
      expect(count()).toBe(0);

      const results = await pending;
      expect(results).toHaveLength(2);
      expect(results[0]).toEqual({
        messageId: 'order-1',
        topic: 'orders',
        queueId: expect.any(Number),
        queueOffset: 0,
        duplicate: false,
      });
      expect(results[1]!.messageId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(results[1]!.duplicate).toBe(false);
      // What the confirm says is what another connection reads back from the committed database.
      expect(count()).toBe(2);
      for (const result of results) {
        const row = reader
          .prepare('SELECT topic, queue_id, queue_offset FROM messages WHERE message_id = ?')
          .get(result.messageId) as { topic: string; queue_id: number; queue_offset: number };
        expect(row).toEqual({ topic: result.topic, queue_id: result.queueId, queue_offset: result.queueOffset });
      }
    } finally {
      reader.close();
    }
  });

  it('uses synchronous=FULL in sync flush mode (the default) and NORMAL in async mode', () => {
    kit = new EngineKit();
    const defaults = kit.open();
    const sync = kit.open({ flush: 'sync' });
    const async = kit.open({ flush: 'async' });
    expect(defaults.options.flush).toBe('sync');
    expect(connectionOf(defaults).pragma('synchronous', { simple: true })).toBe(2);
    expect(connectionOf(sync).pragma('synchronous', { simple: true })).toBe(2);
    expect(connectionOf(async).pragma('synchronous', { simple: true })).toBe(1);
    expect(connectionOf(async).pragma('journal_mode', { simple: true })).toBe('wal');
    expect(() => kit.open({ flush: 'never' as never })).toThrow(/flush must be "sync" or "async"/);
  });

  it('group-commits concurrent publishes: all confirmed, offsets dense and unique', async () => {
    kit = new EngineKit();
    const engine = kit.open();
    engine.createTopic('orders');
    const transaction = vi.spyOn(connectionOf(engine), 'transaction');
    const results = await Promise.all(
      Array.from({ length: 64 }, (_, index) =>
        engine.publish([{ topic: 'orders', key: `key-${index % 7}`, body: `m${index}` }]).then((r) => r[0]!),
      ),
    );
    // One fsync'd commit serves many publishers (tolerant bound: the exact count is the scheduler's business).
    expect(transaction.mock.calls.length).toBeLessThanOrEqual(4);
    transaction.mockRestore();
    expect(new Set(results.map((r) => r.messageId)).size).toBe(64);
    const byQueue = new Map<number, number[]>();
    for (const result of results)
      byQueue.set(result.queueId, [...(byQueue.get(result.queueId) ?? []), result.queueOffset]);
    for (const [queueId, offsets] of byQueue) {
      const sorted = [...offsets].sort((a, b) => a - b);
      expect(sorted, `queue ${queueId}`).toEqual(sorted.map((_, i) => i));
    }
    const stats = engine.stats().topics.find((t) => t.topic === 'orders')!;
    for (const queue of stats.queues) expect(queue.maxOffset).toBe(byQueue.get(queue.queueId)?.length ?? 0);
    expect(totalStored(engine, 'orders')).toBe(64);
  });

  describe('a batch is atomic', () => {
    const invalidBatches: Array<[string, (good: PublishMessage) => unknown[], new (...args: never[]) => Error]> = [
      [
        'one oversized body',
        (good) => [good, { topic: 'orders', body: Buffer.alloc(101) }, good],
        MessageTooLargeError,
      ],
      ['a number body', (good) => [good, { topic: 'orders', body: 7 }], InvalidArgumentError],
      [
        'a header that is not a string',
        (good) => [good, { topic: 'orders', body: 'x', headers: { n: 1 } }],
        InvalidArgumentError,
      ],
      ['a negative delay', (good) => [good, { topic: 'orders', body: 'x', delayMs: -1 }], InvalidArgumentError],
      ['a non-object message', (good) => [good, 'just a string'], InvalidArgumentError],
    ];

    for (const [what, build, errorType] of invalidBatches) {
      it(`stores nothing when the batch holds ${what}`, async () => {
        kit = new EngineKit();
        const engine = kit.open({ maxBodyBytes: 100 });
        engine.createTopic('orders', { queueCount: 2 });
        const seen: Delivery[] = [];
        await engine.subscribe({
          group: 'g',
          topic: 'orders',
          startFrom: 'earliest',
          handler: async (delivery) => {
            seen.push(delivery);
          },
        });
        const good: PublishMessage = { topic: 'orders', body: 'fine' };
        await expect(engine.publish(build(good) as PublishMessage[])).rejects.toBeInstanceOf(errorType);
        expect(totalStored(engine, 'orders')).toBe(0);
        // The consumer proves it too: the next message is the first thing it gets, at offset 0.
        const [marker] = await engine.publish([{ topic: 'orders', body: 'marker' }]);
        expect(marker!.queueOffset).toBe(0);
        await until(() => seen.length >= 1, 5000, 'the marker');
        await sleep(50);
        expect(seen.map(text)).toEqual(['marker']);
        expect(totalStored(engine, 'orders')).toBe(1);
      });
    }
  });

  describe('limits', () => {
    it('rejects a body over maxBodyBytes, naming the limit; the limit itself is accepted', async () => {
      kit = new EngineKit();
      const engine = kit.open({ maxBodyBytes: 1000 });
      engine.createTopic('orders');
      await expect(engine.publish([{ topic: 'orders', body: Buffer.alloc(1000) }])).resolves.toHaveLength(1);
      const rejected = engine.publish([{ topic: 'orders', body: 'é'.repeat(501) }]);
      await expect(rejected).rejects.toBeInstanceOf(MessageTooLargeError);
      await expect(engine.publish([{ topic: 'orders', body: Buffer.alloc(1001) }])).rejects.toThrow(
        /1001 bytes; the limit is 1000 bytes \(maxBodyBytes\)/,
      );
      const error = await engine
        .publish([
          { topic: 'orders', body: 'x' },
          { topic: 'orders', body: new Uint8Array(2000) },
        ])
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'MESSAGE_TOO_LARGE', sizeBytes: 2000, limitBytes: 1000, index: 1 });
      expect(totalStored(engine, 'orders')).toBe(1);
    });

    it('defaults to 4 MiB bodies and 1000-message batches', async () => {
      kit = new EngineKit();
      const engine = kit.open();
      engine.createTopic('orders');
      expect(engine.options.maxBodyBytes).toBe(4 * 1024 * 1024);
      expect(engine.options.maxBatchSize).toBe(1000);
      await expect(engine.publish([{ topic: 'orders', body: Buffer.alloc(4 * 1024 * 1024 + 1) }])).rejects.toThrow(
        /limit is 4194304 bytes/,
      );
      const batch = (n: number): PublishMessage[] => Array.from({ length: n }, () => ({ topic: 'orders', body: 'x' }));
      await expect(engine.publish(batch(1001))).rejects.toBeInstanceOf(BatchTooLargeError);
      await expect(engine.publish(batch(1000))).resolves.toHaveLength(1000);
      expect(totalStored(engine, 'orders')).toBe(1000);
    });

    it('rejects a batch over maxBatchSize, naming the limit', async () => {
      kit = new EngineKit();
      const engine = kit.open({ maxBatchSize: 3 });
      engine.createTopic('orders');
      const batch = (n: number): PublishMessage[] =>
        Array.from({ length: n }, (_, i) => ({ topic: 'orders', body: `${i}` }));
      await expect(engine.publish(batch(3))).resolves.toHaveLength(3);
      await expect(engine.publish(batch(4))).rejects.toBeInstanceOf(BatchTooLargeError);
      await expect(engine.publish(batch(4))).rejects.toThrow(/4 messages; the limit is 3 \(maxBatchSize\)/);
      expect(totalStored(engine, 'orders')).toBe(3);
    });

    it('rejects bad limit options when opening', () => {
      kit = new EngineKit();
      expect(() => kit.open({ maxBodyBytes: 0 })).toThrow(InvalidArgumentError);
      expect(() => kit.open({ maxBatchSize: -5 })).toThrow(/maxBatchSize must be an integer/);
    });
  });

  describe('malformed input', () => {
    const malformed: Array<[string, unknown]> = [
      ['a non-array', { topic: 'orders', body: 'x' }],
      ['null', null],
      ['an empty batch', []],
      ['a null message', [null]],
      ['a number message', [42]],
      ['a number body', [{ topic: 'orders', body: 42 }]],
      ['a missing body', [{ topic: 'orders' }]],
      ['an object body', [{ topic: 'orders', body: { a: 1 } }]],
      ['a numeric header value', [{ topic: 'orders', body: 'x', headers: { attempt: 1 } }]],
      ['a null header value', [{ topic: 'orders', body: 'x', headers: { trace: null } }]],
      ['headers as an array', [{ topic: 'orders', body: 'x', headers: ['a'] }]],
      ['a numeric key', [{ topic: 'orders', body: 'x', key: 5 }]],
      ['a numeric messageId', [{ topic: 'orders', body: 'x', messageId: 5 }]],
      ['an empty tag', [{ topic: 'orders', body: 'x', tags: [''] }]],
      ['a negative delayMs', [{ topic: 'orders', body: 'x', delayMs: -1 }]],
      ['a NaN delayMs', [{ topic: 'orders', body: 'x', delayMs: Number.NaN }]],
      ['an infinite delayMs', [{ topic: 'orders', body: 'x', delayMs: Number.POSITIVE_INFINITY }]],
      ['a string delayMs', [{ topic: 'orders', body: 'x', delayMs: '5s' }]],
      ['a negative deliverAt', [{ topic: 'orders', body: 'x', deliverAt: -10 }]],
      ['a delayLevel of 0', [{ topic: 'orders', body: 'x', delayLevel: 0 }]],
      ['a delayLevel past the last level', [{ topic: 'orders', body: 'x', delayLevel: 19 }]],
      ['a fractional delayLevel', [{ topic: 'orders', body: 'x', delayLevel: 1.5 }]],
      ['two delays at once', [{ topic: 'orders', body: 'x', delayMs: 10, delayLevel: 1 }]],
      ['a negative ttlMs', [{ topic: 'orders', body: 'x', ttlMs: -1 }]],
    ];

    for (const [what, input] of malformed) {
      it(`rejects ${what} with InvalidArgumentError and stores nothing`, async () => {
        kit = new EngineKit();
        const engine = kit.open();
        engine.createTopic('orders');
        const error = await engine.publish(input as PublishMessage[]).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(InvalidArgumentError);
        expect((error as Error).message.length).toBeGreaterThan(10);
        expect(totalStored(engine, 'orders')).toBe(0);
        expect(engine.stats().scheduledPending).toBe(0);
      });
    }
  });

  it('refuses publish, subscribe, createTopic and stats once closed', async () => {
    kit = new EngineKit();
    const engine = kit.open();
    engine.createTopic('orders');
    await engine.close();
    expect(engine.isOpen).toBe(false);
    await expect(engine.publish([{ topic: 'orders', body: 'x' }])).rejects.toBeInstanceOf(EngineClosedError);
    await expect(
      engine.subscribe({ group: 'g', topic: 'orders', handler: async () => undefined }),
    ).rejects.toBeInstanceOf(EngineClosedError);
    expect(() => engine.createTopic('other')).toThrow(EngineClosedError);
    expect(() => engine.stats()).toThrow(EngineClosedError);
    expect(() => engine.runRetention()).toThrow(EngineClosedError);
    expect(() => engine.stats()).toThrow(/broker engine is closed/);
  });

  it('rejects a publish that is waiting for its commit when the engine closes', async () => {
    kit = new EngineKit();
    const engine = kit.open();
    engine.createTopic('orders');
    const inFlight = engine.publish([{ topic: 'orders', body: 'racing the close' }]);
    await engine.close();
    // Either it made it into the final commit (and is confirmed) or it is refused: never left hanging.
    const outcome = await Promise.race([
      inFlight.then(
        (r) => `confirmed:${r[0]!.queueOffset}`,
        (e: unknown) => (e instanceof EngineClosedError ? 'closed' : `other:${String(e)}`),
      ),
      sleep(2000).then(() => 'hanging'),
    ]);
    expect(['confirmed:0', 'closed']).toContain(outcome);
  });
});
