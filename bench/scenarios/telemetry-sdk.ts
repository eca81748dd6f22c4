import { context, metrics, propagation, trace } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

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
process.stdin.on('data', (chunk) => { const line = chunk.toString().trim(); scrapeUrl = line === 'stop' ? undefined : line; });
setInterval(() => {
  if (!scrapeUrl) return;
  http.get(scrapeUrl, (response) => { response.resume(); response.on('end', () => { scrapes += 1; }); }).on('error', () => {});
}, 1000).unref();
process.on('SIGTERM', () => { process.stdout.write('DONE ' + JSON.stringify({ exports: spans, bytes, scrapes }) + '\\n'); process.exit(0); });
`;

export interface Receiver {
  endpoint: string;
  scrape(url: string | 'stop'): void;
  stop(): Promise<{ exports: number; bytes: number; scrapes: number }>;
}

export async function startReceiver(): Promise<Receiver> {
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
 * receiver over OTLP/HTTP protobuf, and metrics aggregated for a Prometheus exporter that the receiver scrapes every
 * second (unless `scrape` is false: under an instruction counter a second lasts many more messages).
 */
export async function registerSdk(receiver: Receiver, scrape = true): Promise<{ stop(): Promise<void> }> {
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
  if (scrape) receiver.scrape(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`);
  return {
    stop: async () => {
      receiver.scrape('stop');
      await sdk.shutdown();
      // The receiver's scrapes come on a keep-alive connection that would hold close() open for ever.
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeAllConnections();
      await closed;
      // The next round runs without an SDK: nothing of this one may stay registered.
      trace.disable();
      metrics.disable();
      propagation.disable();
      context.disable();
    },
  };
}
