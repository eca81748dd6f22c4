import { parseDuration } from '@reliable-mq/engine';
import { ConfigurationError } from '../errors/configuration.error';

/**
 * Reads a positive duration option (milliseconds or a string such as `'30s'`), falling back to `fallbackMs`.
 * A zero TTL would make Redis refuse the SET and make every key expire at once, so it is refused here.
 */
export function resolveDedupDuration(value: number | string | undefined, fallbackMs: number, option: string): number {
  if (value === undefined) return fallbackMs;
  let ms: number;
  try {
    ms = parseDuration(value, option);
  } catch (error) {
    throw new ConfigurationError(
      `dedup.${option} must be a positive number of milliseconds or a duration such as "30s" or "7d"; got ${JSON.stringify(value)}. ` +
        `(${error instanceof Error ? error.message : String(error)})`,
    );
  }
  if (ms <= 0) {
    throw new ConfigurationError(
      `dedup.${option} must be greater than zero; got ${JSON.stringify(value)}. Leave it out to use the default of ${fallbackMs} ms.`,
    );
  }
  return ms;
}

export const DEFAULT_PROCESSING_TTL_MS = 5 * 60_000;
export const DEFAULT_DONE_TTL_MS = 7 * 24 * 3_600_000;
