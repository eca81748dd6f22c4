import { uuidv7, type HalfMessage } from '@reliable-mq/engine';
import {
  OutboxTransactionalOperations,
  RELIABLE_MQ_TRANSPORT,
  RabbitMqTransport,
  type Transport,
} from '@reliable-mq/nestjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { FakePaymentGateway } from '../../apps/payment-service/src/gateway/fake-payment-gateway';
import { startSample, type Sample, type SampleOptions } from '../../apps/sample/sample';
import { deleteRabbitMqObjects, listRabbitMqObjectsWithPrefix } from '../support/rabbitmq-admin';
import { POSTGRES_URL, RABBITMQ_URL, describeWithService, uniqueName, type ServiceName } from '../support/services';
import { describe } from 'vitest';

export const CARDS = {
  ok: '4242424242424242',
  failsTwice: '4000000000000119',
  declined: '4000000000000002',
} as const;

/** Fast retries and checkbacks; `async` flush, as a test process has nothing to lose on power failure. */
export const FAST: Omit<SampleOptions, 'dataDir'> = {
  orderPort: 0,
  paymentPort: 0,
  flush: 'async',
  retryDelays: '20ms 50ms 100ms',
  maxRetries: 5,
  engine: { minFreeDiskBytes: 0, transactionTimeoutMs: 300, checkIntervalMs: 300 },
  relay: { sweepCron: '*/1 * * * * *' },
  logger: false,
};

export interface TestSample extends Sample {
  dataDir: string;
  /** What it was started with; boot again with these (and `dataDir`) to restart on the same data. */
  options: Partial<SampleOptions>;
  /** Closes the sample (once) and, unless `keepData`, removes its data (directory, queues, schemas). */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

/**
 * The two ways the sample runs: on the embedded broker with SQLite, and on RabbitMQ with PostgreSQL. Only the
 * configuration differs; a suite written against `SampleMode` runs unchanged on both.
 */
export interface SampleMode {
  name: string;
  services: ServiceName[];
  /** Options of a fresh sample in this mode: unique queue prefix and schemas on the shared servers. */
  fresh(): Partial<SampleOptions>;
}

export const EMBEDDED: SampleMode = { name: 'embedded broker, SQLite', services: [], fresh: () => ({}) };

export const RABBITMQ_POSTGRES: SampleMode = {
  name: 'RabbitMQ, PostgreSQL',
  services: ['rabbitmq', 'postgres'],
  fresh: () => ({
    rabbitmq: {
      url: RABBITMQ_URL,
      prefix: uniqueName('smp'),
      heartbeatSeconds: 2,
      reconnect: { initialDelayMs: 100, maxDelayMs: 1000 },
      transactions: { transactionTimeoutMs: 300, checkIntervalMs: 300 },
    },
    postgres: { url: POSTGRES_URL, orderSchema: uniqueName('orders'), paymentSchema: uniqueName('payments') },
  }),
};

export const SAMPLE_MODES: SampleMode[] = [EMBEDDED, RABBITMQ_POSTGRES];

/** `describe` for a suite in one mode, skipped (or failing in CI) when the mode's services are not reachable. */
export function describeSampleMode(mode: SampleMode, name: string, fn: () => void): void {
  const title = `${name} [${mode.name}]`;
  if (mode.services.length === 0) describe(title, fn);
  else describeWithService(mode.services, title, fn);
}

/** Boots the sample on free ports; on `dataDir` when given (a restart), else on a fresh temporary directory. */
export async function bootSample(dataDir?: string, overrides: Partial<SampleOptions> = {}): Promise<TestSample> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'rmq-sample-'));
  let sample: Sample;
  try {
    sample = await startSample({ ...FAST, ...overrides, dataDir: dir });
  } catch (error) {
    // A sample that failed to start leaves no queues or schemas behind either.
    if (!dataDir) await removeSampleData(dir, overrides, []).catch(() => undefined);
    throw error;
  }
  let stopped = false;
  return {
    ...sample,
    dataDir: dir,
    options: overrides,
    async stop(options = {}) {
      const declared = sample.broker === 'rabbitmq' ? [sample.orderService, sample.paymentService].map(declaredOf) : [];
      if (!stopped) {
        stopped = true;
        await sample.close();
      }
      if (options.keepData) return;
      await removeSampleData(dir, overrides, declared);
    },
  };
}

/** Removes a sample's data directory, its RabbitMQ queues and exchanges, and its PostgreSQL schemas. */
async function removeSampleData(
  dir: string,
  options: Partial<SampleOptions>,
  declared: Array<{ queues: string[]; exchanges: string[] }>,
): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  const prefix = options.rabbitmq?.prefix;
  if (declared.length > 0 || prefix) {
    const listed = prefix
      ? await listRabbitMqObjectsWithPrefix(`${prefix}.`).catch(() => ({ queues: [], exchanges: [] }))
      : undefined;
    await deleteRabbitMqObjects({
      queues: [...declared.flatMap((set) => set.queues), ...(listed?.queues ?? [])],
      exchanges: [...declared.flatMap((set) => set.exchanges), ...(listed?.exchanges ?? [])],
    });
  }
  if (options.postgres) {
    const admin = await new DataSource({ type: 'postgres', url: options.postgres.url }).initialize();
    try {
      for (const schema of [options.postgres.orderSchema, options.postgres.paymentSchema]) {
        if (schema) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      }
    } finally {
      await admin.destroy();
    }
  }
}

/** Boots a fresh sample in `mode`. */
export function bootSampleIn(mode: SampleMode, overrides: Partial<SampleOptions> = {}): Promise<TestSample> {
  return bootSample(undefined, { ...mode.fresh(), ...overrides });
}

function declaredOf(app: Sample['orderService']): { queues: string[]; exchanges: string[] } {
  const transport = app.get<Transport>(RELIABLE_MQ_TRANSPORT);
  return transport instanceof RabbitMqTransport ? transport.declaredTopology() : { queues: [], exchanges: [] };
}

/**
 * What the tests do to the broker behind the services' backs, the same way on both brokers: publish a raw message,
 * store a half message for the payment group, and read half messages back.
 */
export interface BrokerBackdoor {
  publish(topic: string, key: string, body: string): Promise<void>;
  sendHalf(messageId: string, topic: string, key: string, body: string): Promise<string>;
  half(txId: string): Promise<HalfMessage | undefined>;
  halvesOfMessage(messageId: string): Promise<HalfMessage[]>;
}

export function backdoor(sample: Sample): BrokerBackdoor {
  const transport = sample.paymentService.get<Transport>(RELIABLE_MQ_TRANSPORT);
  const engine = sample.engine;
  const outboxTransactions = (): OutboxTransactionalOperations =>
    transport.transactions as OutboxTransactionalOperations;
  return {
    async publish(topic, key, body) {
      await transport.publish([{ id: uuidv7(), topic, key, headers: {}, body: Buffer.from(body) }]);
    },
    async sendHalf(messageId, topic, key, body) {
      const sent = await transport.transactions!.sendHalf(
        { id: messageId, topic, key, headers: {}, body: Buffer.from(body) },
        'payment-service',
      );
      return sent.txId;
    },
    async half(txId) {
      return engine ? engine.getHalfMessage(txId) : outboxTransactions().get(txId);
    },
    async halvesOfMessage(messageId) {
      return engine
        ? (await engine.listHalfMessages({ state: 'any', id: messageId })).items
        : (await outboxTransactions().list({ id: messageId })).items;
    },
  };
}

/** `?` placeholders as the payment database wants them (`$1…` on PostgreSQL). */
export function paymentsSql(sample: Sample, sql: string): string {
  if (paymentsDb(sample).options.type !== 'postgres') return sql;
  let index = 0;
  return sql.replace(/\?/g, () => `$${++index}`);
}

export interface HttpResult<T = unknown> {
  status: number;
  body: T;
}

export async function request<T = unknown>(
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<HttpResult<T>> {
  const response = await fetch(url, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: keep the text.
  }
  return { status: response.status, body: parsed as T };
}

export async function placeOrder(
  sample: Sample,
  order: { customerId: string; amount: number; card: string },
): Promise<string> {
  const response = await request<{ id: string; status: string }>('POST', `${sample.orderUrl}/orders`, order);
  if (response.status !== 201)
    throw new Error(`POST /orders answered ${response.status}: ${JSON.stringify(response.body)}`);
  return response.body.id;
}

export interface OrderSummary {
  id: string;
  status: string;
}

export async function ordersOf(sample: Sample, customerId: string): Promise<Map<string, string>> {
  const response = await request<{ items: OrderSummary[] }>(
    'GET',
    `${sample.orderUrl}/orders?customerId=${customerId}&limit=500`,
  );
  return new Map(response.body.items.map((order) => [order.id, order.status]));
}

export async function deadLetterOrderIds(sample: Sample): Promise<Map<string, string>> {
  const response = await request<{ items: Array<{ orderId: string; reason: string }> }>(
    'GET',
    `${sample.paymentUrl}/ops/dead-letters?limit=500`,
  );
  return new Map(response.body.items.map((letter) => [letter.orderId, letter.reason]));
}

/** Polls `check` until it returns true; fails with `describe()` after `timeoutMs`. */
export async function eventually(
  check: () => Promise<boolean>,
  describe: () => Promise<string> | string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms: ${await describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export function paymentsDb(sample: Sample): DataSource {
  return sample.paymentService.get(DataSource);
}

export function gateway(sample: Sample): FakePaymentGateway {
  return sample.paymentService.get(FakePaymentGateway);
}

export async function paymentRowsPerOrder(sample: Sample): Promise<Map<string, number>> {
  const rows = (await paymentsDb(sample).query(
    'SELECT order_id AS "orderId", COUNT(*) AS n FROM payments GROUP BY order_id',
  )) as Array<{ orderId: string; n: number }>;
  return new Map(rows.map((row) => [row.orderId, Number(row.n)]));
}

export async function duplicatesSuppressed(sample: Sample): Promise<number> {
  const stats = await request<{ orderCreated: { duplicates: number } }>('GET', `${sample.paymentUrl}/ops/stats`);
  return stats.body.orderCreated.duplicates;
}
