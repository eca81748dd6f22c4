import { describe, expect, it } from 'vitest';
import { NonRetryableError } from '../errors';
import { failureFate, type RetrySettings } from './failure-fate';

const levels = (overrides: Partial<RetrySettings> = {}): RetrySettings => ({
  maxReconsumeTimes: 3,
  customLevels: false,
  inPlace: false,
  ...overrides,
});

describe('failureFate', () => {
  it("retries on the broker's levels from level 3 on, and on the subscription's own from level 1", () => {
    expect(failureFate(new Error('x'), 0, levels())).toEqual({ kind: 'retry', delayLevel: 3 });
    expect(failureFate(new Error('x'), 2, levels())).toEqual({ kind: 'retry', delayLevel: 5 });
    expect(failureFate(new Error('x'), 0, levels({ customLevels: true }))).toEqual({ kind: 'retry', delayLevel: 1 });
  });

  it('dead-letters a non-retryable error at once, and any error after maxReconsumeTimes failures', () => {
    expect(failureFate(new NonRetryableError('declined'), 0, levels())).toEqual({
      kind: 'dead_letter',
      reason: 'non_retryable',
    });
    expect(failureFate(new Error('x'), 3, levels())).toEqual({ kind: 'dead_letter', reason: 'max_reconsume_times' });
    expect(failureFate(new Error('x'), 0, levels({ maxReconsumeTimes: 0 }))).toEqual({
      kind: 'dead_letter',
      reason: 'max_reconsume_times',
    });
  });

  it('reports the delay an error asked for, and no level for consumers that retry in place', () => {
    expect(failureFate(Object.assign(new Error('x'), { retryDelayMs: 250 }), 0, levels())).toEqual({
      kind: 'retry',
      retryDelayMs: 250,
    });
    expect(failureFate(new Error('x'), 0, levels({ inPlace: true }))).toEqual({ kind: 'retry' });
  });
});
