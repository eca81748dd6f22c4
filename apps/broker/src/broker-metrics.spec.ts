import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { scrape } from '../../../test/support/prometheus-scrape';
import { brokerConfig } from './broker-config';
import { silentBrokerLogger } from './broker-logger';
import { BrokerServer } from './broker-server';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('broker server: /metrics on the health port', () => {
  it("serves the engine's and the groups' figures in Prometheus' text format", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rmq-metrics-'));
    dirs.push(dataDir);
    const server = await BrokerServer.start(
      brokerConfig({
        dataDir,
        port: 0,
        healthPort: 0,
        token: 'metrics-token-1',
        topics: [{ name: 'orders', queueCount: 2 }],
        engine: { minFreeDiskBytes: 0 },
      }),
      { logger: silentBrokerLogger },
    );
    try {
      const { engine } = server;
      const sub = await engine.subscribe({ group: 'billing', topic: 'orders', handler: async () => undefined });
      await sub.close();
      await engine.publish(Array.from({ length: 3 }, (_, i) => ({ topic: 'orders', key: `k${i}`, body: `m${i}` })));
      await new Promise((resolve) => setTimeout(resolve, 20));

      const metrics = await scrape(`http://127.0.0.1:${server.healthAddress!.port}/metrics`);
      const group = { messaging_consumer_group_name: 'billing', messaging_destination_name: 'orders' };
      expect(metrics.value('reliablemq_consumer_lag', group)).toBe(3);
      expect(metrics.value('reliablemq_consumer_lag_latency', group)).toBeGreaterThan(0);
      expect(metrics.value('reliablemq_dlq_messages', group)).toBe(0);
      expect(metrics.value('reliablemq_consumer_retries_pending', group)).toBe(0);
      expect(metrics.value('reliablemq_engine_topic_messages', { messaging_destination_name: 'orders' })).toBe(3);
      expect(metrics.value('reliablemq_engine_stored_bytes')).toBeGreaterThan(0);
      expect(metrics.value('reliablemq_engine_commits_total')).toBeGreaterThanOrEqual(1);
      expect(metrics.value('reliablemq_engine_commit_time_total')).toBeGreaterThan(0);
      expect(metrics.family('reliablemq_engine_commit_time_total').type).toBe('COUNTER');
      const p99 = metrics.value('reliablemq_engine_commit_recent_duration', { messaging_reliablemq_quantile: '0.99' });
      expect(p99).toBeGreaterThan(0);
      expect(
        metrics.value('reliablemq_engine_commit_recent_duration', { messaging_reliablemq_quantile: '1' }),
      ).toBeGreaterThanOrEqual(p99);
      expect(metrics.value('reliablemq_half_messages_unresolved')).toBe(0);
      expect(metrics.value('reliablemq_half_messages_discarded')).toBe(0);
    } finally {
      await server.shutdown(2_000);
    }
  });
});
