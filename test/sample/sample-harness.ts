import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { FakePaymentGateway } from '../../apps/payment-service/src/gateway/fake-payment-gateway';
import { startSample, type Sample, type SampleOptions } from '../../apps/sample/sample';

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
  /** Closes the sample (once) and, unless `keepData`, removes its data directory. */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

/** Boots the sample on free ports; on `dataDir` when given (a restart), else on a fresh temporary directory. */
export async function bootSample(dataDir?: string, overrides: Partial<SampleOptions> = {}): Promise<TestSample> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'rmq-sample-'));
  const sample = await startSample({ ...FAST, ...overrides, dataDir: dir });
  let stopped = false;
  return {
    ...sample,
    dataDir: dir,
    async stop(options = {}) {
      if (!stopped) {
        stopped = true;
        await sample.close();
      }
      if (!options.keepData) rmSync(dir, { recursive: true, force: true });
    },
  };
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
    'SELECT order_id AS orderId, COUNT(*) AS n FROM payments GROUP BY order_id',
  )) as Array<{ orderId: string; n: number }>;
  return new Map(rows.map((row) => [row.orderId, Number(row.n)]));
}

export async function duplicatesSuppressed(sample: Sample): Promise<number> {
  const stats = await request<{ orderCreated: { duplicates: number } }>('GET', `${sample.paymentUrl}/ops/stats`);
  return stats.body.orderCreated.duplicates;
}
