import * as net from 'node:net';
import Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decideGate,
  describeWithService,
  probeTcp,
  REDIS_URL,
  serviceAvailable,
  serviceEndpoint,
  uniqueName,
  type ServiceEndpoint,
} from './services';
import { probeServices } from './service-probe';

/** A loopback port that nothing listens on: bind an ephemeral port, then release it. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  if (address === null || typeof address === 'string') {
    throw new Error('expected a TCP address');
  }
  return address.port;
}

describe('service helpers', () => {
  it('reads the endpoints from the connection settings', () => {
    const redisPort = new URL(REDIS_URL).port;
    expect(serviceEndpoint('redis')).toMatchObject({
      label: 'Redis',
      port: redisPort === '' ? 6379 : Number(redisPort),
    });
    expect(serviceEndpoint('postgres').label).toBe('PostgreSQL');
    expect(serviceEndpoint('mariadb').label).toBe('MariaDB');
    expect(serviceEndpoint('rabbitmq').label).toBe('RabbitMQ');
  });

  it('reports a closed port as unreachable without throwing', async () => {
    await expect(probeTcp('127.0.0.1', await closedPort(), 500)).resolves.toBe(false);
  });

  it('reports a listening port as reachable', async () => {
    const server = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address() as net.AddressInfo;
    try {
      await expect(probeTcp('127.0.0.1', address.port)).resolves.toBe(true);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('runs, skips or fails a suite depending on reachability and CI', () => {
    const redis: ServiceEndpoint = { service: 'redis', label: 'Redis', host: '127.0.0.1', port: 6379 };
    const rabbit: ServiceEndpoint = { service: 'rabbitmq', label: 'RabbitMQ', host: '127.0.0.1', port: 5672 };

    expect(decideGate([], true)).toEqual({ mode: 'run' });
    expect(decideGate([], false)).toEqual({ mode: 'run' });
    expect(decideGate([redis], true)).toEqual({ mode: 'fail', reason: 'Redis on 127.0.0.1:6379 is required in CI' });
    expect(decideGate([redis, rabbit], true)).toEqual({
      mode: 'fail',
      reason: 'Redis on 127.0.0.1:6379, RabbitMQ on 127.0.0.1:5672 are required in CI',
    });
    const skipped = decideGate([redis], false);
    expect(skipped.mode).toBe('skip');
    expect(skipped.mode === 'skip' && skipped.reason).toContain('Redis on 127.0.0.1:6379 is not reachable');
  });

  it('knows, without waiting, whether each service answered the probe made at the start of the run', () => {
    for (const service of ['postgres', 'mariadb', 'redis', 'rabbitmq'] as const) {
      expect(typeof serviceAvailable(service)).toBe('boolean');
    }
  });

  it('probes all services at once and reports each one', async () => {
    const availability = await probeServices(500);
    expect(Object.keys(availability).sort()).toEqual(['mariadb', 'postgres', 'rabbitmq', 'redis']);
  });

  it('gives distinct names that keep the prefix and the pid', () => {
    const names = new Set(Array.from({ length: 1_000 }, () => uniqueName('orders')));
    expect(names.size).toBe(1_000);
    for (const name of names) {
      expect(name).toMatch(new RegExp(`^orders_${process.pid}_\\d+_[0-9a-f]{8}$`));
    }
  });
});

describeWithService('redis', 'a suite backed by the real Redis', () => {
  let redis: Redis;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
  });

  afterAll(async () => {
    await redis.quit();
  });

  it('reaches Redis and cleans up after itself', async () => {
    const key = uniqueName('rmq_services_spec');
    expect(await redis.set(key, 'processing', 'EX', 60, 'NX')).toBe('OK');
    expect(await redis.set(key, 'again', 'EX', 60, 'NX')).toBeNull();
    expect(await redis.get(key)).toBe('processing');
    expect(await redis.del(key)).toBe(1);
    expect(await redis.exists(key)).toBe(0);
  });
});
