import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDIS_URL, describeWithService, uniqueName } from '../../../../test/support/services';
import { DedupBusyError } from '../errors/dedup-busy.error';
import { DedupUnavailableError } from '../errors/dedup-unavailable.error';
import type { DedupLogger } from './dedup-logger.interface';
import { RedisDedupStore } from './redis-dedup.store';

const UNREACHABLE_URL = 'redis://127.0.0.1:1';

function gate(): { wait: Promise<void>; open: () => void } {
  let open: () => void = () => undefined;
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

function recordingLogger(): DedupLogger & { messages: string[] } {
  const messages: string[] = [];
  return { messages, warn: (message) => void messages.push(message) };
}

describe('RedisDedupStore when Redis is unreachable', () => {
  it('rejects DedupUnavailableError within seconds and does not run work (store-owned client)', async () => {
    const store = new RedisDedupStore({ url: UNREACHABLE_URL });
    let ran = false;
    const started = Date.now();
    try {
      const attempt = store.execute('billing', 'order-1', async () => void (ran = true));
      await expect(attempt).rejects.toBeInstanceOf(DedupUnavailableError);
      await expect(attempt).rejects.toThrow(/redis dedup store is unreachable/);
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(ran).toBe(false);
    } finally {
      await store.close();
    }
  });

  it('bounds the wait with commandTimeoutMs even for a client that would retry for long', async () => {
    // ioredis defaults: 20 retries per request with growing delays, which would hold a delivery for many seconds.
    const client = new Redis(UNREACHABLE_URL);
    client.on('error', () => undefined);
    const store = new RedisDedupStore({ client, commandTimeoutMs: 500 });
    let ran = false;
    const started = Date.now();
    try {
      await expect(store.execute('billing', 'order-1', async () => void (ran = true))).rejects.toBeInstanceOf(
        DedupUnavailableError,
      );
      expect(Date.now() - started).toBeLessThan(1_500);
      expect(ran).toBe(false);
    } finally {
      await store.close();
      client.disconnect();
    }
  });
});

describeWithService('redis', 'RedisDedupStore on Redis', () => {
  const keyPrefix = `${uniqueName('rmq_dedup_store')}:`;
  let admin: Redis;

  beforeAll(() => {
    admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  });

  afterAll(async () => {
    const keys = await admin.keys(`${keyPrefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
  });

  it('uses <prefix><group>:<key> with the TTLs of each state', async () => {
    const store = new RedisDedupStore({ url: REDIS_URL, keyPrefix, processingTtlMs: '1m', doneTtlMs: '2h' });
    const redisKey = `${keyPrefix}billing:order/42:ü`;
    expect(store.redisKeyOf('billing', 'order/42:ü')).toBe(redisKey);
    try {
      await store.execute('billing', 'order/42:ü', async () => {
        expect(await admin.get(redisKey)).toMatch(/^PROCESSING:[0-9a-f-]{36}$/);
        const ttl = await admin.pttl(redisKey);
        expect(ttl).toBeGreaterThan(55_000);
        expect(ttl).toBeLessThanOrEqual(60_000);
      });
      expect(await admin.get(redisKey)).toBe('DONE');
      const ttl = await admin.pttl(redisKey);
      expect(ttl).toBeGreaterThan(7_100_000);
      expect(ttl).toBeLessThanOrEqual(7_200_000);
    } finally {
      await store.close();
    }
  });

  it('percent-encodes the group only where a character would be ambiguous', () => {
    const store = new RedisDedupStore({ client: admin, keyPrefix: 'p:' });
    expect(store.redisKeyOf('billing-v2.eu_1', 'k')).toBe('p:billing-v2.eu_1:k');
    expect(store.redisKeyOf('a:b', 'c')).toBe('p:a%3Ab:c');
    expect(store.redisKeyOf('a', 'b:c')).toBe('p:a:b:c');
  });

  it('does not let a run that outlived its claim overwrite the newer claim or release it', async () => {
    const logger = recordingLogger();
    const store = new RedisDedupStore({ url: REDIS_URL, keyPrefix, processingTtlMs: 200, logger });
    const group = uniqueName('lost_claim');
    const redisKey = store.redisKeyOf(group, 'order-1');
    const oldRun = gate();
    const newRun = gate();
    try {
      const late = store.execute(group, 'order-1', () => oldRun.wait);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const current = store.execute(group, 'order-1', () => newRun.wait);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const newClaim = await admin.get(redisKey);
      expect(newClaim).toMatch(/^PROCESSING:/);
      await admin.pexpire(redisKey, 60_000);

      oldRun.open();
      await expect(late).resolves.toBe('processed');
      expect(await admin.get(redisKey)).toBe(newClaim);
      expect(logger.messages.join('\n')).toMatch(/claimed by another delivery.*Raise processingTtlMs/);
      await expect(store.execute(group, 'order-1', async () => undefined)).rejects.toBeInstanceOf(DedupBusyError);

      newRun.open();
      await expect(current).resolves.toBe('processed');
      expect(await admin.get(redisKey)).toBe('DONE');
    } finally {
      oldRun.open();
      newRun.open();
      await store.close();
    }
  });

  it('does not release the newer claim when the run that lost its claim fails', async () => {
    const store = new RedisDedupStore({ url: REDIS_URL, keyPrefix, processingTtlMs: 200 });
    const group = uniqueName('lost_claim_failure');
    const redisKey = store.redisKeyOf(group, 'order-1');
    const oldRun = gate();
    const newRun = gate();
    try {
      const late = store.execute(group, 'order-1', async () => {
        await oldRun.wait;
        throw new Error('late failure');
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const current = store.execute(group, 'order-1', () => newRun.wait);
      await new Promise((resolve) => setTimeout(resolve, 20));
      await admin.pexpire(redisKey, 60_000);
      const newClaim = await admin.get(redisKey);

      oldRun.open();
      await expect(late).rejects.toThrow('late failure');
      expect(await admin.get(redisKey)).toBe(newClaim);
      newRun.open();
      await expect(current).resolves.toBe('processed');
    } finally {
      oldRun.open();
      newRun.open();
      await store.close();
    }
  });

  it('quits the client it created on close, and leaves a client passed in open', async () => {
    const ownedName = uniqueName('rmq_dedup_owned');
    const owned = new RedisDedupStore({ url: REDIS_URL, keyPrefix, connectionName: ownedName });
    await owned.execute(uniqueName('owned'), 'order-1', async () => undefined);
    expect(await connectionsNamed(admin, ownedName)).toBe(1);
    await owned.close();
    await owned.close();
    await expect.poll(() => connectionsNamed(admin, ownedName), { timeout: 2_000 }).toBe(0);

    const borrowedName = uniqueName('rmq_dedup_borrowed');
    const client = new Redis(REDIS_URL, { connectionName: borrowedName });
    const borrowed = new RedisDedupStore({ client, keyPrefix });
    await borrowed.execute(uniqueName('borrowed'), 'order-1', async () => undefined);
    await borrowed.close();
    expect(client.status).toBe('ready');
    expect(await connectionsNamed(admin, borrowedName)).toBe(1);
    await expect(borrowed.execute(uniqueName('borrowed'), 'order-1', async () => undefined)).rejects.toBeInstanceOf(
      DedupUnavailableError,
    );
    await client.quit();
  });

  it('gives back a claim whose reply came after commandTimeoutMs, so the key is not blocked for processingTtlMs', async () => {
    const client = new Redis(REDIS_URL);
    // Replies arrive late, as from an overloaded server: the claim is applied, but after the store gave up.
    const slow = client as unknown as { eval: (...args: unknown[]) => Promise<unknown> };
    const realEval = slow.eval.bind(client);
    slow.eval = (...args) => {
      const reply = realEval(...args);
      return new Promise((resolve) => setTimeout(() => resolve(reply), 400));
    };
    const store = new RedisDedupStore({ client, keyPrefix, commandTimeoutMs: 200 });
    const group = uniqueName('late_claim');
    let ran = false;
    try {
      await expect(store.execute(group, 'order-1', async () => void (ran = true))).rejects.toBeInstanceOf(
        DedupUnavailableError,
      );
      expect(ran).toBe(false);
      expect(await admin.get(store.redisKeyOf(group, 'order-1'))).toMatch(/^PROCESSING:/);
      await expect.poll(() => admin.exists(store.redisKeyOf(group, 'order-1')), { timeout: 3_000 }).toBe(0);
    } finally {
      await store.close();
      await client.quit();
    }
  });

  it('rejects DedupUnavailableError without running work on a client that was closed', async () => {
    const client = new Redis(REDIS_URL);
    await client.quit();
    const store = new RedisDedupStore({ client, keyPrefix });
    let ran = false;
    await expect(store.execute('billing', 'order-1', async () => void (ran = true))).rejects.toBeInstanceOf(
      DedupUnavailableError,
    );
    expect(ran).toBe(false);
  });
});

async function connectionsNamed(admin: Redis, name: string): Promise<number> {
  const list = (await admin.client('LIST')) as string;
  return list.split('\n').filter((line) => line.includes(` name=${name} `)).length;
}
