import { parseDuration } from '@reliable-mq/engine';
import { ConfigurationError } from '../../errors/configuration.error';
import type { RabbitMqTransportOptions } from './rabbitmq-transport-options';

/** The engine's default retention: a new group gets what the engine would still hold. */
export const DEFAULT_HISTORY_RETENTION_MS = 72 * 3_600_000;
/** Per topic; past it RabbitMQ drops the oldest segment even within the retention. */
export const DEFAULT_HISTORY_MAX_BYTES = 2 * 1024 ** 3;

export interface ResolvedHistoryOptions {
  /** 0: no history stream, a group that joins a consumed topic gets only what follows (and parking applies). */
  retentionMs: number;
  maxBytes: number;
  /**
   * Stream segment size: RabbitMQ drops history a whole segment at a time, so a segment is a fraction of the bound
   * rather than its 500 MB default, which would keep a quiet topic's messages far past the retention.
   */
  segmentBytes: number;
}

/** What a topology built without history options keeps: nothing. */
export const NO_HISTORY: ResolvedHistoryOptions = { retentionMs: 0, maxBytes: 0, segmentBytes: 0 };

const fix = (problem: string): never => {
  throw new ConfigurationError(`ReliableMqModule: transport (rabbitmq): ${problem}`);
};

export function resolveHistoryOptions(options: RabbitMqTransportOptions): ResolvedHistoryOptions {
  let retentionMs = DEFAULT_HISTORY_RETENTION_MS;
  if (options.historyRetention !== undefined) {
    try {
      retentionMs = parseDuration(options.historyRetention, 'historyRetention');
    } catch (error) {
      fix(`${(error as Error).message} Use 0 to keep no history.`);
    }
    if (retentionMs !== 0 && retentionMs < 1000) {
      fix(`historyRetention must be 0 (no history) or at least 1 s; got ${JSON.stringify(options.historyRetention)}.`);
    }
  }
  const maxBytes = options.historyMaxBytes ?? DEFAULT_HISTORY_MAX_BYTES;
  if (typeof maxBytes !== 'number' || !Number.isSafeInteger(maxBytes) || maxBytes < 1024 * 1024) {
    fix(`historyMaxBytes must be an integer of at least 1 MiB (1048576); got ${JSON.stringify(maxBytes)}.`);
  }
  return {
    retentionMs,
    maxBytes,
    segmentBytes: Math.max(1024 * 1024, Math.min(100 * 1024 * 1024, Math.floor(maxBytes / 20))),
  };
}
