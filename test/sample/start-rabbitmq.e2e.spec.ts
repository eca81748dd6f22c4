import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { deleteRabbitMqObjects, listRabbitMqObjectsWithPrefix } from '../support/rabbitmq-admin';
import { POSTGRES_URL, RABBITMQ_URL, describeWithService, uniqueName } from '../support/services';
import { ChildSupervisor } from '../../apps/sample/child-supervisor';
import { freePort } from '../support/free-port';
import { request } from './sample-harness';
import { runScript, waitForOutput, waitForStatus } from './script-run';

const children = new ChildSupervisor();

/** `node scripts/start.mjs`, as `npm start` runs it. */
const startScript = (env: Record<string, string>) => runScript('start.mjs', env, children);
const dirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rmq-start-rabbit-'));
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  // `npm start` stops its parts in order on SIGTERM; SIGKILL only when it does not end in time.
  await children.stopAll(30_000);
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

it('npm start refuses RABBITMQ_URL without DATABASE_URL in one sentence', async () => {
  const run = startScript({ RABBITMQ_URL: 'amqp://guest:guest@127.0.0.1:5672', DATA_DIR: join(tempDir(), 'data') });
  expect((await run.exited).code).toBe(2);
  expect(run.errors()).toContain(
    '  - RABBITMQ_URL needs DATABASE_URL too: npm start runs the services on RabbitMQ only with their outboxes in ' +
      'PostgreSQL; set both (or neither, for the broker process with SQLite).\n\nSettings:',
  );
  expect(run.output()).not.toContain('running');
});

describeWithService(['rabbitmq', 'postgres'], 'npm start on RabbitMQ and PostgreSQL', () => {
  // A database of its own: the services use the same schemas as in any other run (order_service, payment_service).
  const database = uniqueName('sample_start');
  const prefix = uniqueName('sst').replace(/_/g, '-').slice(0, 32);
  const databaseUrl = (() => {
    const url = new URL(POSTGRES_URL);
    url.pathname = `/${database}`;
    return url.toString();
  })();

  beforeAll(async () => {
    const admin = await new DataSource({ type: 'postgres', url: POSTGRES_URL }).initialize();
    try {
      await admin.query(`CREATE DATABASE "${database}"`);
    } finally {
      await admin.destroy();
    }
  }, 30_000);

  afterAll(async () => {
    const listed = await listRabbitMqObjectsWithPrefix(`${prefix}.`).catch(() => ({ queues: [], exchanges: [] }));
    await deleteRabbitMqObjects(listed);
    const admin = await new DataSource({ type: 'postgres', url: POSTGRES_URL }).initialize();
    try {
      await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    } finally {
      await admin.destroy();
    }
  }, 60_000);

  it('runs the two services and the console as three processes; an order gets PAID; the console fixes a declined one', async () => {
    const [orderPort, paymentPort, consolePort] = [await freePort(), await freePort(), await freePort()];
    const sample = startScript({
      RABBITMQ_URL,
      DATABASE_URL: databaseUrl,
      RABBITMQ_PREFIX: prefix,
      ORDER_PORT: String(orderPort),
      PAYMENT_PORT: String(paymentPort),
      CONSOLE_PORT: String(consolePort),
      DATA_DIR: join(tempDir(), 'data'),
      PAYMENT_RETRY_DELAYS: '50ms 100ms',
    });
    await waitForOutput(sample, 'Ctrl+C stops', 90_000);
    const output = sample.output();
    const orderUrl = `http://127.0.0.1:${orderPort}`;
    expect(output).toContain(
      `ReliableMQ sample is running as three processes on RabbitMQ (amqp://guest:***@127.0.0.1:5672, prefix ${prefix}) ` +
        'with PostgreSQL',
    );
    expect(output).toContain('schemas order_service and payment_service); no broker process.');
    expect(output).not.toMatch(/^ {2}broker /m);
    expect(output).toMatch(new RegExp(`order service {4}${orderUrl} .* pid \\d+`));
    expect(output).toMatch(new RegExp(`payment service  http://127\\.0\\.0\\.1:${paymentPort} .* pid \\d+`));
    const pids = [...output.matchAll(/ {4}pid (\d+)/g)].map((match) => Number(match[1]));
    expect(new Set(pids).size).toBe(3);
    expect(output).toContain('Order service listening on');
    // Without OTEL_EXPORTER_OTLP_ENDPOINT the services start no OpenTelemetry SDK, and say so.
    expect(output).toContain('(RabbitMQ amqp://guest:***@127.0.0.1:5672; traces off)');

    const consoleLine = new RegExp(
      `console {10}(http://127\\.0\\.0\\.1:${consolePort}/console) {4}log in as demo / (\\S+)`,
    ).exec(output);
    expect(consoleLine, output).not.toBeNull();
    const consoleUrl = consoleLine![1]!;
    const login = await fetch(`${consoleUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'demo', password: consoleLine![2] }),
    });
    expect(login.status).toBe(200);
    const { csrfToken } = (await login.json()) as { csrfToken: string };
    const auth = { cookie: login.headers.get('set-cookie')!.split(';')[0]!, 'x-csrf-token': csrfToken };

    const placed = await request<{ id: string }>('POST', `${orderUrl}/orders`, {
      customerId: 'c-1',
      amount: 42.5,
      card: '4242424242424242',
    });
    expect(placed.status).toBe(201);
    await waitForStatus(orderUrl, placed.body.id, 'PAID');

    // The services' tables are in their schemas of the database given.
    const db = await new DataSource({ type: 'postgres', url: databaseUrl }).initialize();
    try {
      const schemas = (await db.query(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name IN ('order_service', 'payment_service') ORDER BY 1",
      )) as Array<{ schema_name: string }>;
      expect(schemas.map((row) => row.schema_name)).toEqual(['order_service', 'payment_service']);
    } finally {
      await db.destroy();
    }

    // A permanently declined card: the payment group's DLQ on RabbitMQ, fixed and retried through the console.
    const declined = await request<{ id: string }>('POST', `${orderUrl}/orders`, {
      customerId: 'c-2',
      amount: 12.5,
      card: '4000000000000002',
    });
    expect(declined.status).toBe(201);
    let letter: { id: string | number; payload: { json: Record<string, unknown> } } | undefined;
    const deadline = Date.now() + 30_000;
    while (!letter) {
      expect(Date.now(), 'the declined order never reached the DLQ').toBeLessThan(deadline);
      const page = await request<{ items: Array<{ id: string | number }> }>(
        'GET',
        `${consoleUrl}/api/dead-letters?group=payment-service&key=${declined.body.id}`,
        undefined,
        auth,
      );
      expect(page.status, JSON.stringify(page.body)).toBe(200);
      if (page.body.items[0]) {
        const read = await request<{ id: string | number; payload: { json: Record<string, unknown> } }>(
          'GET',
          `${consoleUrl}/api/dead-letters/${encodeURIComponent(String(page.body.items[0].id))}`,
          undefined,
          auth,
        );
        expect(read.status, JSON.stringify(read.body)).toBe(200);
        letter = read.body;
      } else await new Promise((resolve) => setTimeout(resolve, 200));
    }
    // The sample's console masks card numbers (CONSOLE_REDACT card:4); the retry below sends a new card as typed.
    expect(letter.payload.json).toMatchObject({ orderId: declined.body.id, card: '**** 0002' });
    const retried = await request(
      'POST',
      `${consoleUrl}/api/dead-letters/${encodeURIComponent(String(letter.id))}/retry`,
      { payload: { ...letter.payload.json, card: '4242424242424242' }, reason: 'new card' },
      auth,
    );
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    await waitForStatus(orderUrl, declined.body.id, 'PAID');

    // The console reads both outboxes in PostgreSQL.
    const outbox = await request<{ services: Array<{ name: string; counts: unknown; error: string | null }> }>(
      'GET',
      `${consoleUrl}/api/outbox`,
      undefined,
      auth,
    );
    expect(outbox.status, JSON.stringify(outbox.body)).toBe(200);
    expect(outbox.body.services.map(({ name, error }) => ({ name, error }))).toEqual([
      { name: 'orders', error: null },
      { name: 'payments', error: null },
    ]);
    for (const service of outbox.body.services) expect(service.counts).not.toBeNull();

    sample.child.kill('SIGINT');
    expect(await sample.exited).toEqual({ code: 0, signal: null });
    expect(sample.output()).toContain('stopping the console, the services...');
  }, 180_000);
});
