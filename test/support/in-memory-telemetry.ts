import { context, metrics, propagation, trace, type Attributes, type SpanKind } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  DataPointType,
  MeterProvider,
  MetricReader,
  type DataPoint,
  type Histogram,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';

/** Collects on demand only: the test reads the instruments when it wants to, nothing is exported on a timer. */
class OnDemandMetricReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

/** A point: a counter's sum (`count` 1), or a histogram's sum of recordings and their count. */
export interface PointValue {
  attributes: Attributes;
  histogram: boolean;
  value: number;
  count: number;
}

/**
 * An OpenTelemetry SDK held in memory and registered as the process's global one: spans through a
 * SimpleSpanProcessor into an InMemorySpanExporter, metrics through a reader collected on demand, W3C trace context
 * as the propagator and AsyncLocalStorage as the context manager, as the Node SDK sets them up. Install it before
 * creating the application under test (ReliableMQ takes its meter when the application is created) and uninstall it
 * after, so that every test starts from zero.
 */
export class InMemoryTelemetry {
  readonly spans = new InMemorySpanExporter();
  private readonly reader = new OnDemandMetricReader();
  private readonly tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(this.spans)] });
  private readonly meterProvider = new MeterProvider({ readers: [this.reader] });
  private readonly contextManager = new AsyncLocalStorageContextManager();

  static install(): InMemoryTelemetry {
    const telemetry = new InMemoryTelemetry();
    context.setGlobalContextManager(telemetry.contextManager.enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(telemetry.tracerProvider);
    metrics.setGlobalMeterProvider(telemetry.meterProvider);
    return telemetry;
  }

  async uninstall(): Promise<void> {
    trace.disable();
    metrics.disable();
    propagation.disable();
    context.disable();
    await this.tracerProvider.shutdown();
    await this.meterProvider.shutdown();
  }

  finished(): ReadableSpan[] {
    return this.spans.getFinishedSpans();
  }

  /** The finished spans named `name`, oldest first, optionally of one kind. */
  named(name: string, kind?: SpanKind): ReadableSpan[] {
    return this.finished().filter((span) => span.name === name && (kind === undefined || span.kind === kind));
  }

  /** Every point of the instrument `name` now, with its attributes. */
  async points(name: string): Promise<PointValue[]> {
    const { resourceMetrics, errors } = await this.reader.collect();
    if (errors.length > 0) throw errors[0];
    const found: MetricData[] = resourceMetrics.scopeMetrics.flatMap((scope) =>
      scope.metrics.filter((metric) => metric.descriptor.name === name),
    );
    return found.flatMap((metric) =>
      (metric.dataPoints as DataPoint<number | Histogram>[]).map((point) =>
        metric.dataPointType === DataPointType.HISTOGRAM
          ? {
              attributes: point.attributes,
              histogram: true,
              value: (point.value as Histogram).sum ?? 0,
              count: (point.value as Histogram).count,
            }
          : { attributes: point.attributes, histogram: false, value: point.value as number, count: 1 },
      ),
    );
  }

  /** The sum of a counter's points, or the number of a histogram's recordings, whose attributes include `match`. */
  async total(name: string, match: Attributes = {}): Promise<number> {
    let total = 0;
    for (const point of await this.points(name)) {
      if (Object.entries(match).every(([key, value]) => point.attributes[key] === value)) {
        total += point.histogram ? point.count : point.value;
      }
    }
    return total;
  }
}

/** `00-<trace id>-<span id>-<flags>` of a finished span, as the W3C propagator writes it. */
export function traceparentOf(span: ReadableSpan): string {
  const { traceId, spanId, traceFlags } = span.spanContext();
  return `00-${traceId}-${spanId}-${traceFlags.toString(16).padStart(2, '0')}`;
}
