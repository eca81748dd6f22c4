import { describe, expect, it } from 'vitest';
import { isLoopbackHost, readBrokerConfig } from './broker-config';

const base = { BROKER_TOKEN: 'a-long-enough-token' };

describe('readBrokerConfig', () => {
  it('defaults to 127.0.0.1:7420, health on the next port, sync flush, 8 MiB frames', () => {
    const result = readBrokerConfig(base, '/srv');
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config).toMatchObject({
      host: '127.0.0.1',
      port: 7420,
      healthPort: 7421,
      dataDir: '/srv/data/broker',
      flush: 'sync',
      maxFrameBytes: 8 * 1024 * 1024,
      token: 'a-long-enough-token',
    });
  });

  it('requires a token, saying how to set it', () => {
    const result = readBrokerConfig({});
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.join(' ')).toMatch(/BROKER_TOKEN is not set/);
  });

  it('runs without a token only on loopback with BROKER_ALLOW_NO_TOKEN=true', () => {
    expect(readBrokerConfig({ BROKER_ALLOW_NO_TOKEN: 'true' }).ok).toBe(true);
    expect(readBrokerConfig({ BROKER_ALLOW_NO_TOKEN: 'true', BROKER_HOST: '::1' }).ok).toBe(true);
    const exposed = readBrokerConfig({ BROKER_ALLOW_NO_TOKEN: 'true', BROKER_HOST: '0.0.0.0' });
    expect(exposed.ok).toBe(false);
    if (!exposed.ok) expect(exposed.errors.join(' ')).toMatch(/only allowed on a loopback host/);
    expect(readBrokerConfig({ BROKER_ALLOW_NO_TOKEN: 'yes' }).ok).toBe(false);
  });

  it('reads topics, engine options and limits, and refuses bad values with one sentence each', () => {
    const result = readBrokerConfig({
      ...base,
      BROKER_TOPICS: 'order.created:8, payment.succeeded',
      BROKER_ENGINE_OPTIONS: '{"sessionTimeoutMs":5000}',
      BROKER_HEALTH_PORT: 'off',
      BROKER_MAX_CONNECTIONS: '10',
    });
    expect(result.ok && result.config).toMatchObject({
      topics: [{ name: 'order.created', queueCount: 8 }, { name: 'payment.succeeded' }],
      engine: { sessionTimeoutMs: 5000 },
      healthPort: null,
      maxConnections: 10,
    });
    const bad = readBrokerConfig({
      ...base,
      BROKER_PORT: 'x',
      BROKER_FLUSH: 'maybe',
      BROKER_ENGINE_OPTIONS: '{"dataDir":"/elsewhere"}',
      BROKER_HEARTBEAT_MS: '5000',
      BROKER_IDLE_TIMEOUT_MS: '6000',
      BROKER_TOKEN: 'short',
    });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.errors).toHaveLength(5);
  });

  it('reads BROKER_HALF_RETENTION into the engine options (7 days by default in the engine; "keep" keeps records)', () => {
    const unset = readBrokerConfig(base);
    expect(unset.ok && 'halfMessageRetentionMs' in unset.config.engine).toBe(false);
    for (const [raw, ms] of [
      ['7d', 7 * 86_400_000],
      ['12h', 12 * 3_600_000],
      ['86400000', 86_400_000],
      ['keep', null],
    ] as const) {
      const result = readBrokerConfig({ ...base, BROKER_HALF_RETENTION: raw });
      expect(result.ok && result.config.engine, raw).toEqual({ halfMessageRetentionMs: ms });
    }
    const viaJson = readBrokerConfig({ ...base, BROKER_ENGINE_OPTIONS: '{"halfMessageRetentionMs":null}' });
    expect(viaJson.ok && viaJson.config.engine).toEqual({ halfMessageRetentionMs: null });
    for (const raw of ['0', '0s', 'soon', '-1d', 'forever', '1.5x']) {
      const bad = readBrokerConfig({ ...base, BROKER_HALF_RETENTION: raw });
      expect(bad.ok, raw).toBe(false);
      if (!bad.ok)
        expect(bad.errors).toEqual([
          `BROKER_HALF_RETENTION must be a duration of at least 1 ms such as "7d", "12h" or "86400000", or "keep"; got ${JSON.stringify(raw)}.`,
        ]);
    }
    const both = readBrokerConfig({
      ...base,
      BROKER_HALF_RETENTION: '1d',
      BROKER_ENGINE_OPTIONS: '{"halfMessageRetentionMs":1000}',
    });
    expect(both.ok).toBe(false);
    if (!both.ok) expect(both.errors).toEqual([expect.stringMatching(/both set; keep one/)]);
  });

  it('bounds how long a forwarded payload check waits for the consumer (5 s by default)', () => {
    const defaults = readBrokerConfig(base);
    expect(defaults.ok && defaults.config.validateTimeoutMs).toBe(5_000);
    const set = readBrokerConfig({ ...base, BROKER_VALIDATE_TIMEOUT_MS: '1500' });
    expect(set.ok && set.config.validateTimeoutMs).toBe(1_500);
    for (const value of ['0', '60001', 'soon']) {
      const bad = readBrokerConfig({ ...base, BROKER_VALIDATE_TIMEOUT_MS: value });
      expect(bad.ok, value).toBe(false);
      if (!bad.ok)
        expect(bad.errors).toEqual([
          `BROKER_VALIDATE_TIMEOUT_MS must be an integer from 100 to 60000; got ${JSON.stringify(value)}.`,
        ]);
    }
  });

  it('knows loopback addresses', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', 'localhost'].every(isLoopbackHost)).toBe(true);
    expect(['0.0.0.0', '10.0.0.1', '::', 'example.internal'].some(isLoopbackHost)).toBe(false);
  });
});
