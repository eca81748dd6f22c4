/**
 * Delay before retry number `attempt` (1 for the first retry): `baseMs` doubling per attempt, capped at `maxMs`,
 * then spread by ±20 % so that rows failed together by one outage do not all come back in the same instant.
 * The cap holds after the spread.
 */
export function retryBackoffMs(
  attempt: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, attempt - 1);
  // 2^exponent overflows to Infinity for large attempt counts, which Math.min then caps.
  const raw = Math.min(maxMs, baseMs * 2 ** exponent);
  const spread = raw * (0.8 + 0.4 * random());
  return Math.max(0, Math.min(maxMs, Math.round(spread)));
}
