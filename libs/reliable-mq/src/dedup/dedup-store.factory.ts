import type { DataSource } from 'typeorm';
import { ConfigurationError } from '../errors/configuration.error';
import type { DedupOptions } from '../reliable-mq-options.interface';
import { DEFAULT_INBOX_PRUNE_INTERVAL_MS, DEFAULT_INBOX_RETENTION_MS, DbDedupStore } from './db-dedup.store';
import { resolveDedupDuration } from './dedup-duration';
import type { DedupLogger } from './dedup-logger.interface';
import type { DedupStore } from './dedup-store.interface';
import { MemoryDedupStore } from './memory-dedup.store';
import { RedisDedupStore } from './redis-dedup.store';

const STORE_NAMES = ['redis', 'db', 'memory'] as const;

/**
 * Builds the dedup store that the options ask for. Without options: `db` when a DataSource is given, otherwise
 * `memory`. Bad options throw `ConfigurationError` with a sentence that says how to fix them.
 */
export function createDedupStore(
  options: DedupOptions | undefined,
  dataSource?: DataSource,
  logger?: DedupLogger,
): DedupStore {
  if (options === undefined) {
    return dataSource ? new DbDedupStore(dataSource, { logger }) : new MemoryDedupStore();
  }
  if (typeof options !== 'object' || options === null) {
    throw new ConfigurationError(
      `dedup must be an object such as { store: 'redis', url: 'redis://localhost:6379' }; got ${JSON.stringify(options)}.`,
    );
  }
  // Options often come from plain JavaScript or configuration files, so the union is checked at run time too.
  const store: unknown = (options as { store?: unknown }).store;
  switch (store) {
    case 'memory':
      return new MemoryDedupStore();
    case 'db':
      if (!dataSource) {
        throw new ConfigurationError(
          'dedup.store "db" writes its inbox rows in your database, but no dataSource was given: ' +
            'pass `dataSource` to ReliableMqModule.forRoot, or choose dedup.store "redis".',
        );
      }
      return createDbStore(options as Extract<DedupOptions, { store: 'db' }>, dataSource, logger);
    case 'redis':
      return createRedisStore(options as Extract<DedupOptions, { store: 'redis' }>, logger);
    default:
      throw new ConfigurationError(
        `dedup.store must be one of ${STORE_NAMES.map((name) => `"${name}"`).join(', ')}; got ${JSON.stringify(store)}.`,
      );
  }
}

function createDbStore(
  options: Extract<DedupOptions, { store: 'db' }>,
  dataSource: DataSource,
  logger: DedupLogger | undefined,
): DedupStore {
  const { retentionMs, pruneIntervalMs, batch } = options;
  if (batch !== undefined && (typeof batch !== 'object' || batch === null || Array.isArray(batch))) {
    throw new ConfigurationError(
      `dedup.batch must be an object such as { maxMessages: 64, maxInFlight: 4 } (or {} for those defaults); got ${JSON.stringify(batch)}.`,
    );
  }
  return new DbDedupStore(dataSource, {
    ...(batch ? { batch } : {}),
    retentionMs:
      retentionMs === null ? null : resolveDedupDuration(retentionMs, DEFAULT_INBOX_RETENTION_MS, 'retentionMs'),
    pruneIntervalMs: resolveDedupDuration(pruneIntervalMs, DEFAULT_INBOX_PRUNE_INTERVAL_MS, 'pruneIntervalMs'),
    logger,
  });
}

function createRedisStore(
  options: Extract<DedupOptions, { store: 'redis' }>,
  logger: DedupLogger | undefined,
): DedupStore {
  const { url, client, processingTtlMs, doneTtlMs, keyPrefix } = options;
  if (keyPrefix !== undefined && typeof keyPrefix !== 'string') {
    throw new ConfigurationError(
      `dedup.keyPrefix must be a string such as "rmq:dedup:"; got ${JSON.stringify(keyPrefix)}.`,
    );
  }
  if (url !== undefined && client !== undefined) {
    throw new ConfigurationError(
      'dedup.store "redis" takes either `url` or `client`, not both: remove one. With `client`, the store leaves closing it to you.',
    );
  }
  const settings = { processingTtlMs, doneTtlMs, keyPrefix, logger };
  if (client !== undefined) {
    if (typeof client !== 'object' || client === null || typeof client.eval !== 'function') {
      throw new ConfigurationError('dedup.client must be an ioredis client (new Redis(...)).');
    }
    return new RedisDedupStore({ ...settings, client });
  }
  if (url === undefined) {
    throw new ConfigurationError(
      'dedup.store "redis" needs `url` (such as "redis://localhost:6379", often from REDIS_URL) or an ioredis `client`.',
    );
  }
  if (typeof url !== 'string' || !/^rediss?:\/\/./.test(url)) {
    throw new ConfigurationError(
      `dedup.url must start with "redis://" or "rediss://", such as "redis://localhost:6379/0"; got ${JSON.stringify(url)}.`,
    );
  }
  return new RedisDedupStore({ ...settings, url });
}
