import { Redis } from 'ioredis';
import { DataSource } from 'typeorm';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigurationError } from '../errors/configuration.error';
import type { DedupOptions } from '../reliable-mq-options.interface';
import { DbDedupStore } from './db-dedup.store';
import { createDedupStore } from './dedup-store.factory';
import type { DedupStore } from './dedup-store.interface';
import { MemoryDedupStore } from './memory-dedup.store';
import { RedisDedupStore } from './redis-dedup.store';

// Never initialised: the factory must not touch the database.
const dataSource = new DataSource({ type: 'better-sqlite3', database: ':memory:' });

describe('createDedupStore', () => {
  const created: DedupStore[] = [];
  const make = (options: DedupOptions | undefined, withDataSource?: DataSource): DedupStore => {
    const store = createDedupStore(options, withDataSource);
    created.push(store);
    return store;
  };

  afterEach(async () => {
    for (const store of created.splice(0)) await store.close();
  });

  it('defaults to the db store when a DataSource is given, and to memory otherwise', () => {
    expect(make(undefined, dataSource)).toBeInstanceOf(DbDedupStore);
    expect(make(undefined)).toBeInstanceOf(MemoryDedupStore);
  });

  it('builds the store that is named', () => {
    expect(make({ store: 'memory' }, dataSource)).toBeInstanceOf(MemoryDedupStore);
    expect(make({ store: 'db' }, dataSource).kind).toBe('db');
    // lazyConnect keeps this test from opening a connection.
    const client = new Redis('redis://127.0.0.1:1', { lazyConnect: true });
    expect(make({ store: 'redis', client, processingTtlMs: '30s', doneTtlMs: '1d' })).toBeInstanceOf(RedisDedupStore);
    client.disconnect();
  });

  it.each<[string, unknown, RegExp]>([
    ['redis without url or client', { store: 'redis' }, /needs `url`.*or an ioredis `client`/],
    ['redis with both', { store: 'redis', url: 'redis://localhost', client: {} }, /either `url` or `client`, not both/],
    [
      'redis with a url of another scheme',
      { store: 'redis', url: 'http://localhost:6379' },
      /must start with "redis:\/\/"/,
    ],
    ['redis with something else as client', { store: 'redis', client: { get: () => 1 } }, /must be an ioredis client/],
    ['an unknown store', { store: 'mongo' }, /dedup.store must be one of "redis", "db", "memory"; got "mongo"/],
    ['no store name', {}, /dedup.store must be one of/],
    ['a non-object', 'redis', /dedup must be an object/],
    [
      'a zero TTL',
      { store: 'redis', url: 'redis://localhost', processingTtlMs: 0 },
      /processingTtlMs must be greater than zero/,
    ],
    [
      'a negative TTL',
      { store: 'redis', url: 'redis://localhost', doneTtlMs: -5 },
      /doneTtlMs must be a positive number/,
    ],
    [
      'an unreadable TTL',
      { store: 'redis', url: 'redis://localhost', doneTtlMs: 'a week' },
      /doneTtlMs must be a positive/,
    ],
  ])('refuses %s with a ConfigurationError that says what to do', (_, options, message) => {
    const attempt = (): DedupStore => make(options as DedupOptions);
    expect(attempt).toThrow(ConfigurationError);
    expect(attempt).toThrow(message);
  });

  it('builds the db store in batch mode, and refuses a batch that is not an object or out of range', () => {
    expect(make({ store: 'db', batch: {} }, dataSource)).toBeInstanceOf(DbDedupStore);
    expect(make({ store: 'db', batch: { maxMessages: 16, maxInFlight: 2 } }, dataSource).kind).toBe('db');
    expect(() => make({ store: 'db', batch: true } as unknown as DedupOptions, dataSource)).toThrow(
      /dedup.batch must be an object such as \{ maxMessages: 64, maxInFlight: 4 \}/,
    );
    expect(() => make({ store: 'db', batch: { maxMessages: 100_000 } }, dataSource)).toThrow(
      /dedup.batch.maxMessages must be an integer from 1 to 10,000; got 100000/,
    );
  });

  it('refuses the db store without a DataSource', () => {
    expect(() => make({ store: 'db' })).toThrow(
      /no dataSource was given: pass `dataSource` to ReliableMqModule.forRoot/,
    );
  });
});
