import { InvalidArgumentError } from '../errors';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Accepts milliseconds or strings such as `250ms`, `30s`, `5m`, `2h`, `7d`. */
export function parseDuration(value: number | string, what: string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) {
      throw new InvalidArgumentError(`${what} must be a non-negative number of milliseconds; got ${value}.`);
    }
    return Math.floor(value);
  }
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(String(value));
  if (!match) {
    throw new InvalidArgumentError(
      `${what} must be milliseconds or a duration such as "500ms", "30s", "5m", "2h"; got ${JSON.stringify(value)}.`,
    );
  }
  return Math.round(Number(match[1]) * UNITS[match[2]!]!);
}

export const DEFAULT_DELAY_LEVELS = '1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h';

/** Parses a space-separated delay-level list into milliseconds; level N is index N-1. */
export function parseDelayLevels(spec: string): number[] {
  if (typeof spec !== 'string' || spec.trim() === '') {
    throw new InvalidArgumentError(`delayLevels must be a non-empty list such as "${DEFAULT_DELAY_LEVELS}".`);
  }
  return spec
    .trim()
    .split(/\s+/)
    .map((part) => parseDuration(part, `delay level "${part}"`));
}

/** Delay for a 1-based level; levels past the end use the last one. */
export function delayForLevel(levels: readonly number[], level: number): number {
  if (level <= 0) return 0;
  return levels[Math.min(level, levels.length) - 1]!;
}
