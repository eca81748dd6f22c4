import { parseDelayLevels, parseDuration, validateName } from '@reliable-mq/engine';
import { ConfigurationError } from './errors';
import {
  BUILT_IN_TRANSPORT_KINDS,
  builtInTransportFactory,
  checkBuiltInTransport,
} from './transport/built-in-transports';
import type { TransportFactory } from './transport/transport-factory';
import type {
  ConsumerDefaults,
  DedupOptions,
  MetricsOptions,
  ReliableMqModuleOptions,
  RelayOptions,
  TracingOptions,
  TransportOptions,
} from './reliable-mq-options.interface';

export interface ResolvedReliableMqOptions {
  /** As configured: a built-in transport's options, or the application's factory. */
  transport: TransportOptions | TransportFactory;
  /** Creates the transport, whichever way it was configured. */
  createTransport: TransportFactory;
  producerGroup: string;
  dataSource: ReliableMqModuleOptions['dataSource'];
  relay: RelayOptions & { enabled: boolean };
  dedup: DedupOptions;
  /** `startFrom` absent: each subscription starts where `defaultStartFrom` says for its group mode. */
  consumers: Required<Omit<ConsumerDefaults, 'delayLevels' | 'startFrom'>> &
    Pick<ConsumerDefaults, 'delayLevels' | 'startFrom'>;
  runMigrations: boolean;
  maxPayloadBytes: number;
  shutdownTimeoutMs: number;
  metrics: { readIntervalMs: number };
  tracing: Required<TracingOptions>;
}

const fix = (problem: string): never => {
  throw new ConfigurationError(`ReliableMqModule: ${problem}`);
};

function integer(name: string, value: unknown, min: number, max: number): void {
  if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)) {
    fix(`${name} must be an integer from ${min} to ${max}; got ${JSON.stringify(value)}.`);
  }
}

function duration(name: string, value: unknown): void {
  if (value === undefined) return;
  try {
    parseDuration(value as number | string, name);
  } catch (error) {
    fix((error as Error).message);
  }
}

function resolveMetricsOptions(options: MetricsOptions | undefined): { readIntervalMs: number } {
  if (options === undefined) return { readIntervalMs: 10_000 };
  if (typeof options !== 'object' || options === null)
    fix('metrics must be an object such as { readIntervalMs: "10s" }.');
  if (options.readIntervalMs === undefined) return { readIntervalMs: 10_000 };
  duration('metrics.readIntervalMs', options.readIntervalMs);
  const readIntervalMs = parseDuration(options.readIntervalMs, 'metrics.readIntervalMs');
  if (readIntervalMs < 100) fix(`metrics.readIntervalMs must be at least 100 ms; got ${readIntervalMs}.`);
  return { readIntervalMs };
}

/** A built-in transport's options, checked, as its factory; or the application's own factory. */
function resolveTransport(transport: TransportOptions | TransportFactory): TransportFactory {
  if (typeof transport === 'function') return transport;
  if (typeof transport !== 'object' || transport === null) {
    fix(
      'set `transport`, for example { kind: "embedded", dataDir: "./data/broker" }, or a factory (context) => transport.',
    );
  }
  if (!checkBuiltInTransport(transport, fix)) {
    const kinds = BUILT_IN_TRANSPORT_KINDS.map((kind) => `"${kind}"`);
    fix(
      `transport.kind ${JSON.stringify((transport as { kind?: unknown }).kind)} is not available; use ` +
        `${kinds.slice(0, -1).join(', ')} or ${kinds[kinds.length - 1]}, or pass a factory (context) => transport ` +
        'for a transport of your own.',
    );
  }
  return builtInTransportFactory(transport);
}

/** Checks module options at startup; every failure is one sentence saying what to change. */
export function resolveReliableMqOptions(options: ReliableMqModuleOptions): ResolvedReliableMqOptions {
  if (typeof options !== 'object' || options === null) {
    fix(
      'forRoot() needs an options object such as { producerGroup: "order-service", transport: { kind: "embedded", dataDir: "./data/broker" } }.',
    );
  }
  const transport = options.transport;
  const createTransport = resolveTransport(transport);
  try {
    validateName('group', options.producerGroup);
  } catch (error) {
    fix(`producerGroup: ${(error as Error).message} Use the service name, e.g. "order-service".`);
  }
  const relay = options.relay ?? {};
  integer('relay.batchSize', relay.batchSize, 1, 1000);
  integer('relay.maxAttempts', relay.maxAttempts, 1, 1000);
  for (const name of ['leaseMs', 'backoffBaseMs', 'backoffMaxMs', 'retentionMs'] as const)
    duration(`relay.${name}`, relay[name]);
  const relayEnabled = relay.enabled ?? true;
  if (relayEnabled && !options.dataSource) {
    // Without a database there is no outbox to relay; publish() would also refuse.
  }
  let dedup: DedupOptions = options.dedup ?? (options.dataSource ? { store: 'db' } : { store: 'memory' });
  if (typeof dedup !== 'object' || dedup === null || !['redis', 'db', 'memory'].includes(dedup.store)) {
    fix(`dedup.store must be "redis", "db" or "memory"; got ${JSON.stringify((dedup as { store?: unknown })?.store)}.`);
  }
  if (dedup.store === 'db' && !options.dataSource) {
    fix(
      'dedup { store: "db" } keeps its inbox in your database: pass `dataSource` too, or use { store: "redis", url }.',
    );
  }
  if (dedup.store === 'db') {
    if (dedup.retentionMs !== null) duration('dedup.retentionMs', dedup.retentionMs);
    duration('dedup.pruneIntervalMs', dedup.pruneIntervalMs);
  }
  if (dedup.store === 'redis') {
    if (!dedup.url && !dedup.client)
      fix('dedup { store: "redis" } needs `url` (e.g. "redis://127.0.0.1:6379") or an ioredis `client`.');
    duration('dedup.processingTtlMs', dedup.processingTtlMs);
    duration('dedup.doneTtlMs', dedup.doneTtlMs);
    dedup = { ...dedup };
  }
  const consumers = options.consumers ?? {};
  integer('consumers.prefetch', consumers.prefetch, 1, 10_000);
  integer('consumers.maxReconsumeTimes', consumers.maxReconsumeTimes, 0, 1000);
  if (consumers.mode !== undefined && consumers.mode !== 'concurrent' && consumers.mode !== 'orderly') {
    fix(`consumers.mode must be "concurrent" or "orderly"; got ${JSON.stringify(consumers.mode)}.`);
  }
  if (consumers.startFrom !== undefined && consumers.startFrom !== 'earliest' && consumers.startFrom !== 'latest') {
    fix(`consumers.startFrom must be "earliest" or "latest"; got ${JSON.stringify(consumers.startFrom)}.`);
  }
  if (consumers.delayLevels !== undefined) {
    try {
      parseDelayLevels(consumers.delayLevels);
    } catch (error) {
      fix(`consumers.delayLevels: ${(error as Error).message}`);
    }
  }
  integer('maxPayloadBytes', options.maxPayloadBytes, 1, 4 * 1024 * 1024 - 64 * 1024);
  integer('shutdownTimeoutMs', options.shutdownTimeoutMs, 0, 3_600_000);
  if (options.runMigrations && !options.dataSource) fix('runMigrations: true needs `dataSource`.');
  const metrics = resolveMetricsOptions(options.metrics);
  const processSpan = options.tracing?.processSpan ?? 'link';
  if (processSpan !== 'link' && processSpan !== 'parent') {
    fix(`tracing.processSpan must be "link" or "parent"; got ${JSON.stringify(processSpan)}.`);
  }
  return {
    transport,
    createTransport,
    producerGroup: options.producerGroup,
    dataSource: options.dataSource,
    relay: { ...relay, enabled: relayEnabled && options.dataSource !== undefined },
    dedup,
    consumers: {
      mode: consumers.mode ?? 'concurrent',
      prefetch: consumers.prefetch ?? 32,
      maxReconsumeTimes: consumers.maxReconsumeTimes ?? 16,
      startFrom: consumers.startFrom,
      delayLevels: consumers.delayLevels,
    },
    runMigrations: options.runMigrations ?? false,
    maxPayloadBytes: options.maxPayloadBytes ?? 1024 * 1024,
    shutdownTimeoutMs: options.shutdownTimeoutMs ?? 10_000,
    metrics,
    tracing: { processSpan },
  };
}
