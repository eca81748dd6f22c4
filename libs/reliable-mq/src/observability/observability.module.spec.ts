import { Injectable } from '@nestjs/common';
import { HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { BrokerEngine } from '@reliable-mq/engine';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MqConsumer,
  RELIABLE_MQ_TRANSPORT,
  ReliableMqModule,
  ReliablePublisher,
  reliableMqEntities,
  type ReliableMqModuleOptions,
} from '@reliable-mq/nestjs';
import { ReliableMqHealth, ReliableMqHealthIndicator, ReliableMqHealthModule } from '@reliable-mq/nestjs/health';
import { scrape } from '../../../../test/support/prometheus-scrape';
import { FakeTransport } from '../../../../test/support/outbox-test-kit';
import { cleanupAfterEach, startTestingModule } from '../../test/testing-module';
import { Test } from '@nestjs/testing';

@Injectable()
class BlockedBilling {
  release: () => void = () => undefined;
  private readonly gate = new Promise<void>((resolve) => (this.release = resolve));

  @MqConsumer({ topic: 'orders', group: 'billing' })
  async bill(): Promise<void> {
    await this.gate;
  }
}

const cleanups = cleanupAfterEach();
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function sqlite(): Promise<DataSource> {
  const dir = mkdtempSync(join(tmpdir(), 'rmq-observe-'));
  const dataSource = new DataSource({
    type: 'better-sqlite3',
    database: join(dir, 'app.sqlite'),
    entities: [...reliableMqEntities],
  });
  await dataSource.initialize();
  cleanups.push(async () => {
    await dataSource.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  return dataSource;
}

function openEngine(): BrokerEngine {
  const dataDir = mkdtempSync(join(tmpdir(), 'rmq-observe-broker-'));
  const engine = BrokerEngine.open({ dataDir, flush: 'async', minFreeDiskBytes: 0 });
  engine.createTopic('orders', { queueCount: 2 });
  cleanups.push(async () => {
    await engine.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return engine;
}

function options(dataSource: DataSource, engine: BrokerEngine, readIntervalMs = 100): ReliableMqModuleOptions {
  return {
    producerGroup: 'order-service',
    dataSource,
    runMigrations: true,
    // Rows stay pending, so the outbox figures have something to show.
    relay: { enabled: false },
    transport: { kind: 'embedded', sharedEngine: engine },
    metrics: { readIntervalMs },
    // The blocked handler would hold the shared SQLite connection in its inbox transaction.
    dedup: { store: 'memory' },
  };
}

describe('observable metrics through a registered meter provider', () => {
  let provider: MeterProvider;
  let server: Server;
  let url: string;

  beforeAll(async () => {
    const exporter = new PrometheusExporter({ preventServerStart: true });
    provider = new MeterProvider({ readers: [exporter] });
    metrics.setGlobalMeterProvider(provider);
    server = createServer((request, response) => exporter.getMetricsRequestHandler(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await provider.shutdown();
    metrics.disable();
  });

  it("show the outbox backlog, the group's lag in messages and time, dead letters, half messages and the engine", async () => {
    const dataSource = await sqlite();
    const engine = openEngine();
    const { app } = await startTestingModule(
      { imports: [ReliableMqModule.forRoot(options(dataSource, engine, 1_000))], providers: [BlockedBilling] },
      cleanups,
    );
    cleanups.push(() => app.get(BlockedBilling).release());
    const publisher = app.get(ReliablePublisher);
    await publisher.transaction((manager) =>
      publisher.publish(
        [1, 2, 3].map((n) => ({ topic: 'orders', key: `o-${n}`, payload: { n } })),
        { manager },
      ),
    );
    await dataSource.query(
      `UPDATE rmq_outbox SET created_at = created_at - 60000 WHERE seq = (SELECT MIN(seq) FROM rmq_outbox)`,
    );
    await engine.publish([1, 2].map((n) => ({ topic: 'orders', key: `direct-${n}`, body: JSON.stringify({ n }) })));

    const metricsNow = await scrape(url);
    const producer = { messaging_reliablemq_producer_group: 'order-service' };
    expect(metricsNow.value('reliablemq_outbox_pending', producer)).toBe(3);
    expect(metricsNow.value('reliablemq_outbox_dead', producer)).toBe(0);
    const age = metricsNow.value('reliablemq_outbox_oldest_pending_age', producer);
    expect(age).toBeGreaterThanOrEqual(60);
    expect(age).toBeLessThan(70);
    const billing = { messaging_consumer_group_name: 'billing', messaging_destination_name: 'orders' };
    expect(metricsNow.value('reliablemq_consumer_lag', billing)).toBe(2);
    expect(metricsNow.value('reliablemq_consumer_lag_latency', billing)).toBeGreaterThan(0);
    expect(metricsNow.value('reliablemq_dlq_messages', billing)).toBe(0);
    expect(metricsNow.value('reliablemq_half_messages_unresolved', producer)).toBe(0);
    expect(metricsNow.value('reliablemq_half_messages_discarded', producer)).toBe(0);
    expect(metricsNow.value('reliablemq_engine_stored_bytes')).toBeGreaterThan(0);
    expect(metricsNow.value('reliablemq_engine_topic_messages', { messaging_destination_name: 'orders' })).toBe(2);
    expect(metricsNow.value('reliablemq_engine_commits_total')).toBeGreaterThan(0);

    // Readings are shared for readIntervalMs: scrapes within it cost the database nothing more.
    await dataSource.query(`DELETE FROM rmq_outbox`);
    expect((await scrape(url)).value('reliablemq_outbox_pending')).toBe(3);
    await sleep(1_100);
    const later = await scrape(url);
    expect(later.value('reliablemq_outbox_pending')).toBe(0);
    expect(later.value('reliablemq_outbox_oldest_pending_age')).toBe(0);
  });
});

/** A transport whose connection a test switches off and on. */
class SwitchableTransport extends FakeTransport {
  connected = true;
  get isConnected(): boolean {
    return this.connected;
  }
}

describe('health checks', () => {
  it('liveness, readiness and the oldest pending outbox row, plain and as terminus indicators', async () => {
    const dataSource = await sqlite();
    const engine = openEngine();
    const transport = new SwitchableTransport();
    const app = await Test.createTestingModule({
      imports: [ReliableMqModule.forRoot(options(dataSource, engine)), TerminusModule, ReliableMqHealthModule],
    })
      .overrideProvider(RELIABLE_MQ_TRANSPORT)
      .useValue(transport)
      .compile();
    await app.init();
    cleanups.push(() => app.close());
    const health = app.get(ReliableMqHealth);
    const indicator = app.get(ReliableMqHealthIndicator);
    const terminus = app.get(HealthCheckService);

    expect(health.liveness()).toEqual({
      healthy: true,
      details: { relay: 'disabled', consumers: 'running', handlers: 0, handlersWaitingForBroker: 0 },
    });
    expect(await health.readiness()).toEqual({
      healthy: true,
      details: {
        transport: 'fake',
        connected: true,
        disconnectedSince: null,
        rowsHeldForBroker: 0,
        schema: 'migrated',
      },
    });
    expect(await terminus.check([() => indicator.readiness('broker')])).toMatchObject({
      status: 'ok',
      info: { broker: { status: 'up', connected: true } },
    });

    transport.connected = false;
    expect(await health.readiness()).toMatchObject({ healthy: false, details: { connected: false } });
    const down = await terminus.check([() => indicator.readiness('broker')]).catch((error: unknown) => error);
    expect(down).toMatchObject({
      status: 503,
      response: { status: 'error', error: { broker: { status: 'down', connected: false } } },
    });
    transport.connected = true;

    const publisher = app.get(ReliablePublisher);
    await publisher.transaction((manager) =>
      publisher.publish({ topic: 'orders', key: 'o-1', payload: {} }, { manager }),
    );
    await sleep(150);
    expect(await health.outboxAge('1m')).toMatchObject({ healthy: true, details: { pending: 1, maxAgeMs: 60_000 } });
    await dataSource.query(`UPDATE rmq_outbox SET created_at = ?`, [Date.now() - 120_000]);
    await sleep(150);
    const stale = await health.outboxAge('1m');
    expect(stale.healthy).toBe(false);
    expect(stale.details.oldestPendingAgeMs).toBeGreaterThanOrEqual(120_000);
    const failed = await terminus
      .check([() => indicator.liveness('mq'), () => indicator.outboxAge('outbox', { maxAge: 60_000 })])
      .catch((error: unknown) => error);
    expect(failed).toMatchObject({
      status: 503,
      response: {
        status: 'error',
        info: { mq: { status: 'up' } },
        error: { outbox: { status: 'down', pending: 1, maxAgeMs: 60_000 } },
      },
    });
    expect(await health.outboxAge('5m')).toMatchObject({ healthy: true });
  });
});
