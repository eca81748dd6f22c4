import { describe, expect, it } from 'vitest';
import { BrokerRestartPolicy, DEFAULT_BROKER_RESTART_LIMITS, formatSeconds } from './broker-restart-policy';

describe('BrokerRestartPolicy', () => {
  it('restarts after 0.5 s, doubling up to 10 s, and gives up after 5 restarts within 60 s', () => {
    const policy = new BrokerRestartPolicy(DEFAULT_BROKER_RESTART_LIMITS);
    const decisions = [0, 1_000, 2_000, 3_000, 4_000].map((at) => policy.onExit(at));
    expect(decisions).toEqual([
      { restart: true, delayMs: 500, count: 1 },
      { restart: true, delayMs: 1_000, count: 2 },
      { restart: true, delayMs: 2_000, count: 3 },
      { restart: true, delayMs: 4_000, count: 4 },
      { restart: true, delayMs: 8_000, count: 5 },
    ]);
    expect(policy.onExit(30_000)).toEqual({
      restart: false,
      reason: 'it was restarted 5 times within 1 min (the limit is 5 restarts in 1 min)',
    });
  });

  it('caps the wait at the longest delay', () => {
    const policy = new BrokerRestartPolicy({
      firstDelayMs: 500,
      maxDelayMs: 10_000,
      maxRestarts: 10,
      windowMs: 60_000,
    });
    const delays = Array.from({ length: 7 }, (_, i) => policy.onExit(i));
    expect(delays.map((decision) => (decision.restart ? decision.delayMs : -1))).toEqual([
      500, 1_000, 2_000, 4_000, 8_000, 10_000, 10_000,
    ]);
  });

  it('forgets exits older than the window: the backoff starts over and the count goes on', () => {
    const policy = new BrokerRestartPolicy({ firstDelayMs: 500, maxDelayMs: 10_000, maxRestarts: 2, windowMs: 60_000 });
    expect(policy.onExit(0)).toMatchObject({ restart: true, delayMs: 500, count: 1 });
    expect(policy.onExit(10_000)).toMatchObject({ restart: true, delayMs: 1_000, count: 2 });
    expect(policy.onExit(59_999)).toEqual({
      restart: false,
      reason: 'it was restarted 2 times within 1 min (the limit is 2 restarts in 1 min)',
    });
    // The first restart left the window at 60 s, the second at 70 s.
    expect(policy.onExit(60_000)).toMatchObject({ restart: true, delayMs: 1_000, count: 3 });
    expect(policy.onExit(200_000)).toMatchObject({ restart: true, delayMs: 500, count: 4 });
  });

  it('never restarts when the limit is 0', () => {
    const policy = new BrokerRestartPolicy({ ...DEFAULT_BROKER_RESTART_LIMITS, maxRestarts: 0 });
    expect(policy.onExit(0)).toEqual({ restart: false, reason: 'broker restarts are turned off' });
  });

  it('one restart allowed reads "once" and "1 restart"', () => {
    const policy = new BrokerRestartPolicy({ ...DEFAULT_BROKER_RESTART_LIMITS, maxRestarts: 1, windowMs: 30_000 });
    expect(policy.onExit(0)).toMatchObject({ restart: true });
    expect(policy.onExit(1)).toEqual({
      restart: false,
      reason: 'it was restarted once within 30 s (the limit is 1 restart in 30 s)',
    });
  });

  it('prints waits and windows in seconds or minutes', () => {
    expect([500, 1_000, 10_000, 60_000, 90_000, 120_000].map(formatSeconds)).toEqual([
      '0.5 s',
      '1 s',
      '10 s',
      '1 min',
      '90 s',
      '2 min',
    ]);
  });
});
