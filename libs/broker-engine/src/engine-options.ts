import type { Clock, EngineOptions, FlushMode } from './engine.types';
import { InvalidArgumentError } from './errors';
import { DEFAULT_DELAY_LEVELS, parseDelayLevels } from './util/duration';
import { optionChecks } from './util/option-checks';
import { resolveTransactionOptions, type ResolvedTransactionOptions } from './transactions/transaction-options';

export interface ResolvedEngineOptions {
  dataDir: string;
  flush: FlushMode;
  defaultQueueCount: number;
  autoCreateTopics: boolean;
  maxBodyBytes: number;
  maxBatchSize: number;
  retentionMs: number;
  retentionChunkSize: number;
  retentionIntervalMs: number;
  consumeTimeoutMs: number;
  sessionTimeoutMs: number;
  maxDatabaseBytes: number | null;
  minFreeDiskBytes: number;
  maintenanceIntervalMs: number;
  delayLevels: number[];
  clock: Clock;
  onError: (error: Error) => void;
  onWarning: (message: string) => void;
  transactions: ResolvedTransactionOptions;
  freeDiskBytes?: (dir: string) => number;
}

/**
 * What specs may also pass to `BrokerEngine.open`. Not in the public `EngineOptions`: a deployment measures its free
 * disk space for real.
 */
export interface ProbedEngineOptions extends EngineOptions {
  /** Free bytes on the file system holding `dir`, in place of the real measure (to test the disk guard). */
  freeDiskBytes?: (dir: string) => number;
}

export const MAX_QUEUES_PER_TOPIC = 1024;

const checks = optionChecks((problem) => {
  throw new InvalidArgumentError(problem);
});

function positiveInt(name: string, value: unknown, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  return checks.integer(name, value, fallback, 1, max);
}

function nonNegativeInt(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new InvalidArgumentError(`${name} must be a non-negative integer; got ${JSON.stringify(value)}.`);
  }
  return value;
}

/** Applies defaults and rejects bad options with a sentence that says what to change. */
export function resolveEngineOptions(options: ProbedEngineOptions): ResolvedEngineOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('BrokerEngine.open needs an options object such as { dataDir: "./data/broker" }.');
  }
  if (typeof options.dataDir !== 'string' || options.dataDir.trim() === '') {
    throw new InvalidArgumentError('dataDir must be a non-empty path to the directory that holds the broker data.');
  }
  const flush = options.flush ?? 'sync';
  if (flush !== 'sync' && flush !== 'async') {
    throw new InvalidArgumentError(`flush must be "sync" or "async"; got ${JSON.stringify(flush)}.`);
  }
  if (options.maxDatabaseBytes !== undefined) positiveInt('maxDatabaseBytes', options.maxDatabaseBytes, 0);
  return {
    dataDir: options.dataDir,
    flush,
    defaultQueueCount: positiveInt('defaultQueueCount', options.defaultQueueCount, 4, MAX_QUEUES_PER_TOPIC),
    autoCreateTopics: options.autoCreateTopics ?? false,
    maxBodyBytes: positiveInt('maxBodyBytes', options.maxBodyBytes, 4 * 1024 * 1024),
    maxBatchSize: positiveInt('maxBatchSize', options.maxBatchSize, 1000),
    retentionMs: nonNegativeInt('retentionMs', options.retentionMs, 72 * 3_600_000),
    retentionChunkSize: positiveInt('retentionChunkSize', options.retentionChunkSize, 500),
    retentionIntervalMs: positiveInt('retentionIntervalMs', options.retentionIntervalMs, 60_000),
    consumeTimeoutMs: positiveInt('consumeTimeoutMs', options.consumeTimeoutMs, 15 * 60_000),
    sessionTimeoutMs: positiveInt('sessionTimeoutMs', options.sessionTimeoutMs, 30_000),
    maxDatabaseBytes: options.maxDatabaseBytes ?? null,
    minFreeDiskBytes: nonNegativeInt('minFreeDiskBytes', options.minFreeDiskBytes, 64 * 1024 * 1024),
    maintenanceIntervalMs: positiveInt('maintenanceIntervalMs', options.maintenanceIntervalMs, 50),
    delayLevels: parseDelayLevels(options.delayLevels ?? DEFAULT_DELAY_LEVELS),
    clock: options.clock ?? { now: () => Date.now() },
    onError: options.onError ?? ((error) => console.error('[reliable-mq engine]', error)),
    onWarning: options.onWarning ?? ((message) => console.warn('[reliable-mq engine]', message)),
    transactions: resolveTransactionOptions(options),
    freeDiskBytes: options.freeDiskBytes,
  };
}
