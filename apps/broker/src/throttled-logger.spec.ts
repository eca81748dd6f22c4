import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { throttledLogger } from './throttled-logger';

describe('throttledLogger', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function capture(limit: number, windowMs: number) {
    const seen: string[] = [];
    const logger = throttledLogger(
      { log: () => undefined, error: () => undefined, warn: (message) => seen.push(message) },
      limit,
      windowMs,
      () => Date.now(),
    );
    return { seen, logger };
  }

  it('says at once that a kind floods, and sums up what it held back when the window ends, without a further warning', () => {
    const { seen, logger } = capture(2, 1_000);
    for (let i = 0; i < 5; i++) logger.warn(`w${i}`, 'UNAUTHORIZED');
    expect(seen).toEqual([
      'w0',
      'w1',
      'UNAUTHORIZED: 2 warnings of this kind within 1 s; further ones are counted and summed up in one line every 1 s while they go on.',
    ]);
    vi.advanceTimersByTime(1_000);
    expect(seen.at(-1)).toBe(
      'UNAUTHORIZED: 3 more warning(s) of this kind in the last 1 s were not logged; the last: w4',
    );
    logger.warn('later', 'UNAUTHORIZED');
    expect(seen.at(-1)).toBe('later');
  });

  it('counts kinds apart: a flood of one hides no warning of another', () => {
    const { seen, logger } = capture(2, 1_000);
    for (let i = 0; i < 10; i++) logger.warn(`flood ${i}`, 'HANDSHAKE_REQUIRED');
    logger.warn('the one that matters', 'SUPERSEDED');
    logger.warn('untyped');
    expect(seen).toContain('the one that matters');
    expect(seen).toContain('untyped');
    expect(seen.filter((line) => line.startsWith('flood'))).toHaveLength(2);
  });

  it('flush() reports what was held back at once', () => {
    const { seen, logger } = capture(1, 60_000);
    for (let i = 0; i < 4; i++) logger.warn(`w${i}`, 'BAD_FRAME');
    logger.flush();
    expect(seen.at(-1)).toMatch(/^BAD_FRAME: 3 more warning\(s\) of this kind/);
  });
});
