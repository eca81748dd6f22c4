import type { Observable } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import {
  BACKLOG_METRICS,
  ENGINE_METRICS,
  backlogPoints,
  enginePoints,
  halfMessagePoints,
  observableInstruments,
  type BrokerEngine,
  type EngineStats,
  type MetricPoint,
} from '@reliable-mq/engine';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Scrapes closer together than this are answered from the last reading: stats walk every group and queue. */
const STATS_MAX_AGE_MS = 5_000;

/**
 * The broker's metrics in Prometheus' text format, for `GET /metrics` on the health port: the engine's stored bytes,
 * messages per topic, commits and their durations, every group's lag (in messages and in time), retries and dead
 * letters, and the half messages. Read from the engine's stats when scraped, through the OpenTelemetry metrics SDK and
 * its Prometheus exporter, with a MeterProvider of its own, so an application hosting the broker keeps its global one.
 */
export class BrokerMetrics {
  private readonly exporter: PrometheusExporter;
  private readonly provider: MeterProvider;
  private reading: { at: number; stats: EngineStats } | undefined;

  constructor(
    private readonly engine: BrokerEngine,
    version: string,
  ) {
    this.exporter = new PrometheusExporter({ preventServerStart: true });
    this.provider = new MeterProvider({
      resource: resourceFromAttributes({ 'service.name': 'reliable-mq-broker', 'service.version': version }),
      readers: [this.exporter],
    });
    const meter = this.provider.getMeter('@reliable-mq/broker', version);
    const instruments = observableInstruments<Observable>(meter, [
      ...Object.values(ENGINE_METRICS),
      ...Object.values(BACKLOG_METRICS),
    ]);
    meter.addBatchObservableCallback(
      (result) => {
        for (const point of this.points()) {
          result.observe(instruments.get(point.metric.name)!, point.value, point.attributes);
        }
      },
      [...instruments.values()],
    );
  }

  /** Answers one scrape. */
  readonly handle = (request: IncomingMessage, response: ServerResponse): void => {
    this.exporter.getMetricsRequestHandler(request, response);
  };

  async shutdown(): Promise<void> {
    await this.provider.shutdown().catch(() => undefined);
  }

  private points(): MetricPoint[] {
    const now = Date.now();
    if (!this.reading || now - this.reading.at >= STATS_MAX_AGE_MS) {
      // A draining or closed engine has nothing to say; the scrape then shows no broker figures at all.
      if (!this.engine.isOpen) return [];
      this.reading = { at: now, stats: this.engine.stats() };
    }
    const { stats } = this.reading;
    return [...enginePoints(stats), ...backlogPoints(stats, { now }), ...halfMessagePoints(stats.transactions)];
  }
}
