import { Inject, Injectable, Module, type DynamicModule, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MqConsumer, ReliableMqModule, ReliablePublisher } from '@reliable-mq/nestjs';
import { BenchOrder, openSqliteDatabase, orderRow, type BenchDatabase } from '../lib/databases';
import { HandlerProbe, withEndToEndRig, type EndToEndLoad, type EndToEndRig } from '../lib/end-to-end';
import { freshDir, orderPayload } from '../lib/temp';
import type { BenchContext, Measurement, Suite } from '../lib/types';

const TOPIC = 'order.created';
/** The fixed offered rate, as in scenario 7: the whole path on SQLite with sync flush sustains about twice that. */
const FIXED_RATE = 1000;
const PROBE = 'BENCH_TELEMETRY_PROBE';

@Injectable()
class ObservedHandler {
  constructor(@Inject(PROBE) private readonly probe: HandlerProbe) {}

  @MqConsumer({ topic: TOPIC, group: 'bench-observed', dedupKey: (payload: { orderId: string }) => payload.orderId })
  async charge(payload: { sentAt: number }): Promise<void> {
    this.probe.handled(payload.sentAt);
  }
}

@Module({})
class ObservedAppModule {
  static with(options: { db: BenchDatabase; dataDir: string; probe: HandlerProbe }): DynamicModule {
    return {
      module: ObservedAppModule,
      imports: [
        ReliableMqModule.forRoot({
          producerGroup: 'bench-observed-orders',
          dataSource: options.db.dataSource,
          transport: { kind: 'embedded', dataDir: options.dataDir, flush: 'sync', topics: [TOPIC] },
          dedup: { store: 'memory' },
          consumers: { startFrom: 'earliest' },
        }),
      ],
      providers: [{ provide: PROBE, useValue: options.probe }, ObservedHandler],
    };
  }
}

/**
 * What a collector and a Prometheus server cost the observed process, kept out of it: a child process that takes
 * `POST /v1/traces` (OTLP/HTTP) and drops the bodies, and scrapes the process's Prometheus endpoint every second.
 */
const RECEIVER = `
const http = require('node:http');
let spans = 0, bytes = 0, scrapes = 0;
const server = http.createServer((request, response) => {
  request.on('data', (chunk) => { bytes += chunk.length; });
  request.on('end', () => { spans += 1; response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(); });
});
server.listen(0, '127.0.0.1', () => process.stdout.write('PORT ' + server.address().port + '\\n'));
let scrapeUrl;
process.stdin.on('data', (chunk) => { scrapeUrl = chunk.toString().trim(); });
setInterval(() => {
  if (!scrapeUrl) return;
  http.get(scrapeUrl, (response) => { response.resume(); response.on('end', () => { scrapes += 1; }); }).on('error', () => {});
}, 1000).unref();
process.on('SIGTERM', () => { process.stdout.write('DONE ' + JSON.stringify({ exports: spans, bytes, scrapes }) + '\\n'); process.exit(0); });
`;

interface Receiver {
  endpoint: string;
  scrape(url: string): void;
  stop(): Promise<{ exports: number; bytes: number; scrapes: number }>;
}

async function startReceiver(): Promise<Receiver> {
  const child: ChildProcess = spawn(process.execPath, ['-e', RECEIVER], { stdio: ['pipe', 'pipe', 'inherit'] });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the OTLP receiver did not start within 10 s')), 10_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /PORT (\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', () => reject(new Error(`the OTLP receiver exited: ${output}`)));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    scrape: (url) => child.stdin!.write(`${url}\n`),
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => {
          const done = /DONE (.*)/.exec(output)?.[1];
          resolve(done ? JSON.parse(done) : { exports: 0, bytes: 0, scrapes: 0 });
        });
        child.kill('SIGTERM');
      }),
  };
}

/**
 * The OpenTelemetry Node SDK as an application registers it: spans batched (the SDK's defaults, or OTEL_BSP_*) to the
 * receiver over OTLP/HTTP protobuf, and metrics aggregated for a Prometheus exporter that the receiver scrapes.
 */
async function registerSdk(receiver: Receiver): Promise<{ stop(): Promise<void> }> {
  const prometheus = new PrometheusExporter({ preventServerStart: true });
  const server = createServer((request, response) => prometheus.getMetricsRequestHandler(request, response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const sdk = new NodeSDK({
    serviceName: 'bench-observed',
    autoDetectResources: false,
    traceExporter: new OTLPTraceExporter({ url: `${receiver.endpoint}/v1/traces` }),
    metricReaders: [prometheus],
    logRecordProcessors: [],
  });
  sdk.start();
  receiver.scrape(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`);
  return {
    stop: async () => {
      await sdk.shutdown();
      await new Promise((resolve) => server.close(resolve));
      // The next round runs without an SDK: nothing of this one may stay registered.
      trace.disable();
      metrics.disable();
      propagation.disable();
      context.disable();
    },
  };
}

/**
 * Scenario 12: the framework's whole path (business transaction with its outbox row on SQLite, relay, embedded engine
 * with sync flush, @MqConsumer), with and without the OpenTelemetry SDK registered. Both load the API; without an SDK
 * the framework records nothing. With one, every message gets its create, send and process spans (batched to a local
 * receiver in another process) and its hot-path and observable metrics (scraped every second).
 */
async function observedRig(ctx: BenchContext, sdk: boolean): Promise<EndToEndRig> {
  const dir = freshDir(ctx, `telemetry-${sdk ? 'sdk' : 'nosdk'}`);
  const receiver = sdk ? await startReceiver() : undefined;
  const registered = receiver ? await registerSdk(receiver) : undefined;
  let db: BenchDatabase | undefined;
  let app: INestApplicationContext | undefined;
  try {
    db = await openSqliteDatabase(dir.dir);
    const probe = new HandlerProbe();
    app = await NestFactory.createApplicationContext(
      ObservedAppModule.with({ db, dataDir: `${dir.dir}/broker`, probe }),
      { logger: ['error'] },
    );
    await app.init();
    const publisher = app.get(ReliablePublisher);
    const opened = { app, db };
    return {
      probe,
      publish: async (seq, sentAt) => {
        const id = `${ctx.runId}-${sdk ? 's' : 'n'}-${seq}-${sentAt}`;
        await publisher.transaction(async (manager) => {
          await manager.insert(BenchOrder, orderRow(id));
          await publisher.publish({ topic: TOPIC, key: id, payload: orderPayload(id, sentAt) }, { manager });
        });
      },
      close: async () => {
        await opened.app.close();
        await opened.db.dispose();
        await registered?.stop();
        const received = await receiver?.stop();
        if (received && received.exports === 0) throw new Error('the SDK exported no spans to the receiver');
        dir.remove();
      },
    };
  } catch (error) {
    await app?.close().catch(() => undefined);
    await db?.dispose().catch(() => undefined);
    await registered?.stop();
    await receiver?.stop();
    dir.remove();
    throw error;
  }
}

export function telemetrySuite(ctx: BenchContext): Suite {
  const duration = ctx.size({ full: 5000, quick: 1500, smoke: 300 });
  const loads: Array<{ name: string; load: EndToEndLoad; latencyOf: string }> = [
    {
      name: 'max',
      load: { kind: 'max', durationMs: duration, maxCount: ctx.size({ full: 500_000, quick: 100_000, smoke: 2_000 }) },
      latencyOf: 'publisher.transaction call → handler',
    },
    {
      // Half of what this path sustains here without an SDK: a rate both runs keep, so the latencies compare.
      name: `rate${FIXED_RATE}`,
      load: { kind: 'rate', durationMs: duration, ratePerSec: FIXED_RATE },
      latencyOf: 'scheduled send → handler',
    },
  ];
  const measurements: Measurement[] = [];
  for (const { name, load, latencyOf } of loads) {
    measurements.push(
      {
        name: `telemetry.e2e.nosdk.${name}`,
        group: 12,
        title: `Framework end to end (outbox on SQLite, relay, engine sync, @MqConsumer), OpenTelemetry API without an SDK, ${name}`,
        latencyOf,
        run: () => withEndToEndRig(() => observedRig(ctx, false), load),
      },
      {
        name: `telemetry.e2e.sdk.${name}`,
        group: 12,
        title: `The same with the Node SDK: spans batched over OTLP/HTTP to a receiver process, metrics scraped each second, ${name}`,
        baseline: `telemetry.e2e.nosdk.${name}`,
        latencyOf,
        run: () => withEndToEndRig(() => observedRig(ctx, true), load),
      },
    );
  }
  return {
    id: 'telemetry',
    title: 'Scenario 12: the cost of an OpenTelemetry SDK on the framework end to end',
    rounds: ctx.size({ full: 3, quick: 1, smoke: 1 }),
    measurements,
  };
}
