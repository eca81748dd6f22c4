import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { ATTR_PRODUCER_GROUP, observableInstruments, type MetricPoint } from '@reliable-mq/engine';
import type { BatchObservableCallback, Observable } from '@opentelemetry/api';
import { RELIABLE_MQ_OPTIONS } from '../constants';
import { EscapingLogger } from '../logging/escaping-logger';
import type { ResolvedReliableMqOptions } from '../reliable-mq-options.resolver';
import { BacklogMonitor } from './backlog-monitor.service';
import { RELIABLE_MQ_METER } from './metric-names';
import { OBSERVABLE_METRICS, OUTBOX_METRICS } from './observable-metric-names';
import { openTelemetryApi } from './opentelemetry-api';

/**
 * Registers the observable instruments with the application's meter provider when it has one: nothing is read
 * before a metrics reader collects (a Prometheus scrape, a periodic export), and then at most once per
 * `metrics.readIntervalMs` (see BacklogMonitor). Without `@opentelemetry/api`, or with no provider registered when
 * the application boots, nothing is registered and nothing is read.
 * @internal
 */
@Injectable()
export class ObservableMetrics implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new EscapingLogger('ReliableMqMetrics');
  private unregister: (() => void) | undefined;
  private failing = false;

  private readonly outboxAttributes: Readonly<Record<string, string>>;

  constructor(
    private readonly monitor: BacklogMonitor,
    @Inject(RELIABLE_MQ_OPTIONS) options: ResolvedReliableMqOptions,
  ) {
    this.outboxAttributes = { [ATTR_PRODUCER_GROUP]: options.producerGroup };
  }

  onApplicationBootstrap(): void {
    const api = openTelemetryApi();
    if (!api || this.unregister) return;
    const meter = api.metrics.getMeter(RELIABLE_MQ_METER);
    if (meter === api.createNoopMeter()) return;
    const instruments = observableInstruments<Observable>(meter, OBSERVABLE_METRICS);
    const callback: BatchObservableCallback = async (result) => {
      for (const point of await this.points()) {
        const instrument = instruments.get(point.metric.name);
        if (instrument) result.observe(instrument, point.value, point.attributes);
      }
    };
    const observables = [...instruments.values()];
    meter.addBatchObservableCallback(callback, observables);
    this.unregister = () => meter.removeBatchObservableCallback(callback, observables);
  }

  onApplicationShutdown(): void {
    this.unregister?.();
    this.unregister = undefined;
  }

  /** What the instruments show now; a source that cannot be read is left out of this collection, and said once. */
  private async points(): Promise<MetricPoint[]> {
    const [outbox, broker] = await Promise.allSettled([this.monitor.outbox(), this.monitor.brokerPoints()]);
    const points: MetricPoint[] = [];
    if (outbox.status === 'fulfilled' && outbox.value) {
      const { pending, dead, oldestPendingCreatedAt } = outbox.value;
      const age = oldestPendingCreatedAt === null ? 0 : Math.max(0, Date.now() - oldestPendingCreatedAt) / 1000;
      const attributes = this.outboxAttributes;
      points.push(
        { metric: OUTBOX_METRICS.pending, value: pending, attributes },
        { metric: OUTBOX_METRICS.oldestPendingAge, value: age, attributes },
        { metric: OUTBOX_METRICS.dead, value: dead, attributes },
      );
    }
    if (broker.status === 'fulfilled') points.push(...broker.value);
    const failure = [outbox, broker].find((result) => result.status === 'rejected');
    if (failure && !this.failing) {
      this.logger.warn(
        `Metrics: could not read the outbox or the broker; those figures are left out until it can: ${String((failure as PromiseRejectedResult).reason?.message ?? failure)}`,
      );
    }
    this.failing = failure !== undefined;
    return points;
  }
}
