import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '../errors/configuration.error';
import { RELAY_DEFAULTS, resolveRelayOptions } from './outbox-relay-options';
import { retryBackoffMs } from './retry-backoff';

describe('retryBackoffMs', () => {
  it('doubles from the base, spread by ±20 %', () => {
    expect(retryBackoffMs(1, 1000, 300_000, () => 0)).toBe(800);
    expect(retryBackoffMs(1, 1000, 300_000, () => 1)).toBe(1200);
    expect(retryBackoffMs(2, 1000, 300_000, () => 0.5)).toBe(2000);
    expect(retryBackoffMs(5, 1000, 300_000, () => 0.5)).toBe(16_000);
  });

  it('never exceeds the cap, even for huge attempt counts', () => {
    for (const attempt of [10, 50, 2000]) {
      expect(retryBackoffMs(attempt, 1000, 300_000, () => 1)).toBe(300_000);
      expect(retryBackoffMs(attempt, 1000, 300_000, () => 0)).toBe(240_000);
    }
  });
});

describe('resolveRelayOptions', () => {
  it('applies the documented defaults', () => {
    const options = resolveRelayOptions();
    expect(options).toMatchObject({
      batchSize: 1000,
      batchBytes: 4 * 1024 * 1024,
      leaseMs: 30_000,
      sweepCron: '*/5 * * * * *',
      maxAttempts: 20,
      backoffBaseMs: 1000,
      backoffMaxMs: 300_000,
      retentionMs: 7 * 86_400_000,
      cleanupCron: RELAY_DEFAULTS.cleanupCron,
    });
    expect(options.instanceId).toMatch(/:\d+:[0-9a-f]{8}$/);
    expect(resolveRelayOptions({ leaseMs: '45s', retentionMs: '2d' })).toMatchObject({
      leaseMs: 45_000,
      retentionMs: 2 * 86_400_000,
    });
  });

  it.each([
    [{ batchSize: 0 }, /relay.batchSize must be an integer from 1 to 1000/],
    [{ batchSize: 5000 }, /relay.batchSize/],
    [{ batchBytes: 0 }, /relay.batchBytes must be an integer from 1 to 268435456; got 0/],
    [{ batchBytes: 1.5 }, /relay.batchBytes must be an integer/],
    [{ batchBytes: 512 * 1024 * 1024 }, /relay.batchBytes must be an integer from 1 to 268435456/],
    [{ leaseMs: 'soon' }, /relay.leaseMs must be milliseconds or a duration/],
    [{ leaseMs: 10 }, /relay.leaseMs must be at least 100 ms/],
    [{ sweepCron: 'every 5 seconds' }, /relay.sweepCron must be a node-cron expression/],
    [{ maxAttempts: 0 }, /relay.maxAttempts/],
    [{ backoffBaseMs: '10s', backoffMaxMs: '1s' }, /must not be below relay.backoffBaseMs/],
    [{ instanceId: '' }, /relay.instanceId/],
  ])('refuses %j', (options, problem) => {
    expect(() => resolveRelayOptions(options)).toThrow(ConfigurationError);
    expect(() => resolveRelayOptions(options)).toThrow(problem);
  });
});
