import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { NodeSDK } from '@opentelemetry/sdk-node';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';

/**
 * A sample service's telemetry, started before Nest and ReliableMQ load (each service's `src/telemetry.ts` is the
 * first import of its `main.ts`), since ReliableMQ takes the meter and tracer providers registered when it starts:
 *
 * - Metrics, always: a MeterProvider whose reader is the OpenTelemetry Prometheus exporter, served by the service on
 *   `GET /metrics` (ObservabilityModule). Nothing is exported; Prometheus pulls.
 * - Traces, when the standard variables ask for them: `OTEL_EXPORTER_OTLP_ENDPOINT` (or
 *   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) set, with `OTEL_EXPORTER_OTLP_PROTOCOL` `http/protobuf` (the default) or
 *   `http/json`, and `OTEL_SERVICE_NAME` (default: the service's name). The OpenTelemetry Node SDK then exports spans in
 *   batches (`OTEL_BSP_*`). With none of them set no SDK is loaded or started. `OTEL_SDK_DISABLED=true` or
 *   `OTEL_TRACES_EXPORTER=none` turn tracing off as the SDK's own rules say.
 */
interface Telemetry {
  serviceName: string;
  prometheus: PrometheusExporter;
  meterProvider: MeterProvider;
  sdk: NodeSDK | undefined;
  /** Nest applications using it; the last one to close flushes and stops it. */
  users: number;
}

let started: Telemetry | undefined;

/** A setting that stops the start; main prints it and exits 2 as for any other bad setting. */
export class TelemetrySettingError extends Error {}

export function startTelemetry(defaultServiceName: string, env: NodeJS.ProcessEnv = process.env): void {
  if (started) return;
  const serviceName = env.OTEL_SERVICE_NAME?.trim() || defaultServiceName;
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const meterProvider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    readers: [prometheus],
  });
  metrics.setGlobalMeterProvider(meterProvider);
  started = { serviceName, prometheus, meterProvider, sdk: startTracing(serviceName, env), users: 0 };
}

/**
 * `startTelemetry` for a service's main: a bad setting is printed as one sentence, and the process exits 2 as for its
 * other settings.
 */
export function startTelemetryOrExit(defaultServiceName: string, label: string): void {
  try {
    startTelemetry(defaultServiceName);
  } catch (error) {
    if (!(error instanceof TelemetrySettingError)) throw error;
    console.error(`The ${label} cannot start: ${error.message}`);
    process.exit(2);
  }
}

/** The exporter behind `GET /metrics`; undefined when the service was created without `startTelemetry` (tests). */
export function prometheusExporter(): PrometheusExporter | undefined {
  return started?.prometheus;
}

/** Whether spans are exported, and where, for the service's startup line. */
export function tracingSummary(env: NodeJS.ProcessEnv = process.env): string {
  if (!started?.sdk) return 'traces off';
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  return `traces to ${endpoint} (${protocolOf(env)}) as ${started.serviceName}`;
}

/** A Nest application starts using the telemetry. */
export function holdTelemetry(): void {
  if (started) started.users += 1;
}

/** A Nest application is done with it; once none is left, spans still queued are exported and the SDK stops. */
export async function releaseTelemetry(): Promise<void> {
  if (!started || --started.users > 0) return;
  const { sdk, meterProvider } = started;
  started = undefined;
  metrics.disable();
  await Promise.allSettled([sdk?.shutdown(), meterProvider.shutdown()]);
}

function wantsTraces(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  if (env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() === 'none') return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim());
}

function protocolOf(env: NodeJS.ProcessEnv): string {
  return (
    env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL?.trim() ||
    env.OTEL_EXPORTER_OTLP_PROTOCOL?.trim() ||
    'http/protobuf'
  ).toLowerCase();
}

function startTracing(serviceName: string, env: NodeJS.ProcessEnv): NodeSDK | undefined {
  if (!wantsTraces(env)) return undefined;
  const protocol = protocolOf(env);
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') {
    throw new TelemetrySettingError(
      `OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or http/json for the sample; got ${JSON.stringify(protocol)}.`,
    );
  }
  // Loaded only when traces are asked for: the SDK takes over half a second to load.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { NodeSDK: Sdk } = require('@opentelemetry/sdk-node') as typeof import('@opentelemetry/sdk-node');
  const { OTLPTraceExporter } = (
    protocol === 'http/json'
      ? require('@opentelemetry/exporter-trace-otlp-http')
      : require('@opentelemetry/exporter-trace-otlp-proto')
  ) as { OTLPTraceExporter: new () => SpanExporter };
  /* eslint-enable @typescript-eslint/no-require-imports */
  const sdk = new Sdk({
    serviceName,
    traceExporter: new OTLPTraceExporter(),
    // Metrics are served to Prometheus by the provider above, and logs go to the console.
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  return sdk;
}
