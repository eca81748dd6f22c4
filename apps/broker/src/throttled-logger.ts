import type { BrokerLogger } from './broker-logger';

/**
 * A logger whose warnings are limited to `limit` per window; the rest are counted and summed up in one line when the
 * next window starts. A flood of bad connections (a scanner, a broken client in a loop) cannot flood the log.
 */
export function throttledLogger(
  inner: BrokerLogger,
  limit = 20,
  windowMs = 10_000,
  now: () => number = Date.now,
): BrokerLogger {
  let windowStart = now();
  let inWindow = 0;
  let suppressed = 0;
  return {
    ...inner,
    warn: (message: string) => {
      const at = now();
      if (at - windowStart >= windowMs) {
        if (suppressed > 0)
          inner.warn(
            `${suppressed} more connection warning(s) in the last ${Math.round((at - windowStart) / 1000)} s were not logged.`,
          );
        windowStart = at;
        inWindow = 0;
        suppressed = 0;
      }
      if (inWindow < limit) {
        inWindow++;
        inner.warn(message);
      } else {
        suppressed++;
      }
    },
  };
}
