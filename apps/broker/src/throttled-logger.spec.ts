import { describe, expect, it } from 'vitest';
import { throttledLogger } from './throttled-logger';

describe('throttledLogger', () => {
  it('passes the first warnings of a window, counts the rest, and reports the count when the next window starts', () => {
    let clock = 0;
    const seen: string[] = [];
    const logger = throttledLogger(
      { log: () => undefined, error: () => undefined, warn: (message) => seen.push(message) },
      2,
      1_000,
      () => clock,
    );
    for (let i = 0; i < 5; i++) logger.warn(`w${i}`);
    expect(seen).toEqual(['w0', 'w1']);
    clock = 1_500;
    logger.warn('later');
    expect(seen).toEqual(['w0', 'w1', '3 more connection warning(s) in the last 2 s were not logged.', 'later']);
  });
});
