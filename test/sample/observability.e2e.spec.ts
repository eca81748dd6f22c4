import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOT_PATH_METRICS, OBSERVABLE_METRICS, OUTBOX_METRICS } from '@reliable-mq/nestjs';
import { demoPassword, writeDemoUsersFile } from '../../apps/sample/sample-console';
import { startSampleProcesses, type SampleProcesses } from '../../apps/sample/sample-processes';
import { BrokerProcess } from '../support/broker-process';
import { OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver';
import { scrape, type Scrape } from '../support/prometheus-scrape';
import { waitUntil } from '../support/wait-until';

/**
 * The sample as `npm start` runs it (broker, order service, payment service and console, each its own process), with
 * the standard OpenTelemetry variables pointing at an OTLP/HTTP JSON receiver in this test, JSON log lines, and
 * Prometheus scrapes of each service's and the broker's `/metrics`:
 * - one order's spans run from the order service's `create` to the relay's `send` and the payment service's
 *   `process`, linked to the creation across processes;
 * - counters move by exactly what one order does, in all three processes;
 * - a retried order's failure lines name its message, topic, group, key and trace;
 * - the broker SIGKILLed by its PID takes `/health/ready` to 503 and back to 200 when it returns, and an outbox row
 *   older than OUTBOX_MAX_AGE fails `/health/outbox` meanwhile.
 */

const root = mkdtempSync(join(tmpdir(), 'rmq-sample-observability-'));
const dataDir = join(root, 'data');
const TOKEN = 'sample-observability-token';
const CARDS = { ok: '4242424242424242', failsTwice: '4000000000000119' };
let receiver: OtlpReceiver;
let sample: SampleProcesses | undefined;
let restarted: BrokerProcess | undefined;
const output: string[] = [];

beforeAll(async () => {
  receiver = await OtlpReceiver.start();
  const usersFile = await writeDemoUsersFile(dataDir, demoPassword(dataDir, undefined));
  sample = await startSampleProcesses({
    dataDir,
    orderPort: 0,
    paymentPort: 0,
    brokerPort: 0,
    brokerToken: TOKEN,
    retryDelays: '50ms',
    console: { port: 0, usersFile },
    env: {
      BROKER_ENGINE_OPTIONS: JSON.stringify({ minFreeDiskBytes: 0 }),
      NO_COLOR: '1',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      LOG_FORMAT: 'json',
      OUTBOX_MAX_AGE: '1s',
    },
    output: (line) => output.push(line),
  });
}, 120_000);

afterAll(async () => {
  await sample?.close();
  await restarted?.stop();
  await receiver?.close();
  rmSync(root, { recursive: true, force: true });
});

async function placeOrder(card: string): Promise<string> {
  const response = await fetch(`${sample!.orderUrl}/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ customerId: 'c-1', amount: 42.5, card }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

async function waitForStatus(id: string, status: string): Promise<void> {
  await waitUntil(
    async () =>
      ((await (await fetch(`${sample!.orderUrl}/orders/${id}`)).json()) as { status: string }).status === status,
    `order ${id} to be ${status}`,
    30_000,
    50,
  );
}

const brokerMetricsUrl = (): string => `${sample!.healthUrl}/metrics`;
const prometheusName = (name: string): string => name.replace(/\./g, '_');

/** Per series: `labels` narrow the family; the deltas are summed over what matches. */
function delta(before: Scrape, after: Scrape, name: string, labels: Record<string, string> = {}): number {
  return after.sum(name, labels) - before.sum(name, labels);
}

describe('the sample under npm start, observed', () => {
  it("one order: create → send → process spans across processes, and counters moved by exactly that order's work", async () => {
    const [orderBefore, paymentBefore, brokerBefore] = await Promise.all([
      scrape(`${sample!.orderUrl}/metrics`),
      scrape(`${sample!.paymentUrl}/metrics`),
      scrape(brokerMetricsUrl()),
    ]);

    const id = await placeOrder(CARDS.ok);
    await waitForStatus(id, 'PAID');

    // The spans of this order: its create span carries the order id as the message key.
    let create: ReceivedSpan | undefined;
    await waitUntil(
      () => {
        create = receiver.spans.find(
          (span) => span.name === 'create order.created' && span.attributes['messaging.reliablemq.key'] === id,
        );
        return (
          create !== undefined &&
          receiver.spans.some((span) => span.name === 'process order.created' && linksTo(span, create!)) &&
          receiver.spans.some((span) => span.name === 'send order.created' && linksTo(span, create!))
        );
      },
      "the order's create, send and process spans",
      15_000,
      50,
    );
    const send = receiver.spans.find((span) => span.name === 'send order.created' && linksTo(span, create!))!;
    const process_ = receiver.spans.find((span) => span.name === 'process order.created' && linksTo(span, create!))!;
    expect(create).toMatchObject({
      service: 'order-service',
      kind: 4,
      attributes: {
        'messaging.system': 'reliablemq',
        'messaging.operation.type': 'create',
        'messaging.destination.name': 'order.created',
      },
    });
    expect(send).toMatchObject({ service: 'order-service', kind: 4 });
    expect(send.attributes['messaging.operation.type']).toBe('send');
    expect(process_).toMatchObject({
      service: 'payment-service',
      kind: 5,
      attributes: {
        'messaging.system': 'reliablemq',
        'messaging.destination.name': 'order.created',
        'messaging.consumer.group.name': 'payment-service',
        'messaging.message.id': create!.attributes['messaging.message.id'],
        'messaging.reliablemq.key': id,
      },
    });
    // Linked, not parented (the default): each hop is a trace of its own that points back at the creation.
    expect(process_.traceId).not.toBe(create!.traceId);
    const processes = receiver.spans.filter((span) => span.name === 'process order.created' && linksTo(span, create!));
    expect(processes).toHaveLength(1);
    console.log(
      `One order's spans: ${create!.service} "${create!.name}" ${create!.spanId} ← ${send.service} "${send.name}" ` +
        `and ${process_.service} "${process_.name}" (links to ${create!.traceId}/${create!.spanId})`,
    );

    // The broker reads its stats at most every 5 s: wait for a reading taken after the order.
    let brokerAfter = await scrape(brokerMetricsUrl());
    await waitUntil(
      async () => {
        brokerAfter = await scrape(brokerMetricsUrl());
        return delta(brokerBefore, brokerAfter, 'reliablemq_engine_topic_messages', topic('payment.succeeded')) > 0;
      },
      'a broker reading after the order',
      15_000,
      250,
    );
    const [orderAfter, paymentAfter] = await Promise.all([
      scrape(`${sample!.orderUrl}/metrics`),
      scrape(`${sample!.paymentUrl}/metrics`),
    ]);

    const moved = {
      order: {
        sent: delta(orderBefore, orderAfter, 'messaging_client_sent_messages_total', topic('order.created')),
        relayed: delta(orderBefore, orderAfter, 'reliablemq_relay_rows_total', outcome('sent')),
        created: delta(orderBefore, orderAfter, 'messaging_client_operation_duration_count', operation('create')),
        consumed: delta(
          orderBefore,
          orderAfter,
          'messaging_client_consumed_messages_total',
          topic('payment.succeeded'),
        ),
        done: delta(orderBefore, orderAfter, 'reliablemq_consumer_outcomes_total', outcome('done')),
        processed: delta(orderBefore, orderAfter, 'messaging_process_duration_count'),
        commitToSend: delta(orderBefore, orderAfter, 'reliablemq_relay_commit_to_send_duration_count'),
      },
      payment: {
        consumed: delta(
          paymentBefore,
          paymentAfter,
          'messaging_client_consumed_messages_total',
          topic('order.created'),
        ),
        done: delta(paymentBefore, paymentAfter, 'reliablemq_consumer_outcomes_total', outcome('done')),
        retried: delta(paymentBefore, paymentAfter, 'reliablemq_consumer_outcomes_total', outcome('retried')),
        halfSent: delta(
          paymentBefore,
          paymentAfter,
          'messaging_client_sent_messages_total',
          topic('payment.succeeded'),
        ),
        committed: delta(paymentBefore, paymentAfter, 'messaging_client_operation_duration_count', operation('commit')),
        relayed: delta(paymentBefore, paymentAfter, 'reliablemq_relay_rows_total'),
      },
      broker: {
        orderCreated: delta(brokerBefore, brokerAfter, 'reliablemq_engine_topic_messages', topic('order.created')),
        paymentSucceeded: delta(
          brokerBefore,
          brokerAfter,
          'reliablemq_engine_topic_messages',
          topic('payment.succeeded'),
        ),
      },
    };
    console.log(`Counters moved by one order: ${JSON.stringify(moved)}`);
    expect(moved).toEqual({
      order: { sent: 1, relayed: 1, created: 1, consumed: 1, done: 1, processed: 1, commitToSend: 1 },
      payment: { consumed: 1, done: 1, retried: 0, halfSent: 1, committed: 1, relayed: 0 },
      broker: { orderCreated: 1, paymentSucceeded: 1 },
    });
    expect(delta(brokerBefore, brokerAfter, 'reliablemq_engine_commits_total')).toBeGreaterThan(0);

    // Every documented instrument is there: the observable ones on each service (the engine's only on the broker),
    // and the hot-path ones where this order used them.
    const engineOnly = new Set(
      OBSERVABLE_METRICS.filter((m) => m.name.startsWith('reliablemq.engine.')).map((m) => m.name),
    );
    for (const metrics of [orderAfter, paymentAfter]) {
      for (const metric of OBSERVABLE_METRICS) {
        if (engineOnly.has(metric.name)) continue;
        expect(metrics.families.has(prometheusName(metric.name)), metric.name).toBe(true);
      }
      for (const metric of Object.values(OUTBOX_METRICS)) {
        expect(metrics.samples(prometheusName(metric.name))).toHaveLength(1);
      }
    }
    for (const metric of Object.values(HOT_PATH_METRICS)) {
      if (metric.name === 'reliablemq.transaction.checkbacks') continue; // none asked in a healthy run
      const family =
        prometheusName(metric.name) +
        (metric.instrument === 'counter' ? '_total' : metric.instrument === 'histogram' ? '_count' : '');
      expect(orderAfter.families.has(family) || paymentAfter.families.has(family), metric.name).toBe(true);
    }
    for (const metric of OBSERVABLE_METRICS) {
      if (metric.name.startsWith('reliablemq.outbox.')) continue; // the broker has no outbox
      const family = prometheusName(metric.name) + (metric.kind === 'counter' ? '_total' : '');
      expect(brokerAfter.families.has(family), metric.name).toBe(true);
    }
    const lag = { messaging_consumer_group_name: 'payment-service', messaging_destination_name: 'order.created' };
    expect(brokerAfter.value('reliablemq_consumer_lag', lag)).toBe(0);
    expect(paymentAfter.value('reliablemq_consumer_lag', lag)).toBe(0);
  }, 90_000);

  it('logs a retried delivery as JSON lines that name its message, topic, group, key and trace', async () => {
    const id = await placeOrder(CARDS.failsTwice);
    await waitForStatus(id, 'PAID');
    let create: ReceivedSpan | undefined;
    await waitUntil(
      () =>
        (create = receiver.spans.find(
          (span) => span.name === 'create order.created' && span.attributes['messaging.reliablemq.key'] === id,
        )) !== undefined,
      "the order's create span",
      15_000,
      50,
    );
    const messageId = String(create!.attributes['messaging.message.id']);
    const failures = output
      .filter((line) => line.startsWith('[payment] {') && line.includes(messageId))
      .map((line) => JSON.parse(line.slice('[payment] '.length)) as Record<string, unknown>)
      .filter((entry) => entry.level === 'warn' && entry.context === 'ReliableMqConsumers');
    console.log(`The payment service logged:\n  ${failures.map((entry) => JSON.stringify(entry)).join('\n  ')}`);
    expect(failures).toHaveLength(2);
    for (const [index, entry] of failures.entries()) {
      expect(entry.message).toContain(`ChargeOrderConsumer.charge failed (attempt ${index + 1})`);
      expect(entry.message).toContain('; it will be retried');
      expect(entry.message).toContain(
        `[message=${messageId} topic=order.created group=payment-service key=${id} trace=${create!.traceId}]`,
      );
    }
  }, 60_000);

  it('takes /health/ready to 503 while the broker is SIGKILLed and back to 200 when it returns', async () => {
    for (const url of [sample!.orderUrl, sample!.paymentUrl]) {
      expect((await fetch(`${url}/health/live`)).status).toBe(200);
      expect((await fetch(`${url}/health/ready`)).status).toBe(200);
      expect((await fetch(`${url}/health/outbox`)).status).toBe(200);
    }
    const brokerPort = Number(new URL(sample!.brokerUrl!).port);
    const killedAt = Date.now();
    process.kill(sample!.pids.broker!, 'SIGKILL');

    for (const url of [sample!.orderUrl, sample!.paymentUrl]) {
      await waitUntil(async () => (await fetch(`${url}/health/ready`)).status === 503, `${url} not ready`, 10_000, 50);
    }
    const notReady = (await (await fetch(`${sample!.orderUrl}/health/ready`)).json()) as Record<string, unknown>;
    console.log(`/health/ready ${Date.now() - killedAt} ms after the SIGKILL: ${JSON.stringify(notReady)}`);
    expect(notReady).toMatchObject({
      status: 'error',
      error: { 'reliable-mq': { status: 'down', transport: 'remote', connected: false } },
    });
    // The process is fine: restarting it would not bring the broker back.
    expect((await fetch(`${sample!.orderUrl}/health/live`)).status).toBe(200);

    // Orders are still taken; their rows wait in the outbox, and past OUTBOX_MAX_AGE the outbox check fails.
    const waiting = await placeOrder(CARDS.ok);
    await waitUntil(
      async () => (await fetch(`${sample!.orderUrl}/health/outbox`)).status === 503,
      'the outbox check to fail',
      20_000,
      200,
    );
    const stale = (await (await fetch(`${sample!.orderUrl}/health/outbox`)).json()) as Record<string, unknown>;
    expect(stale).toMatchObject({ error: { outbox: { status: 'down', pending: 1, maxAgeMs: 1_000 } } });

    restarted = await BrokerProcess.start({ dataDir: join(dataDir, 'broker'), port: brokerPort, token: TOKEN });
    const restartedAt = Date.now();
    for (const url of [sample!.orderUrl, sample!.paymentUrl]) {
      await waitUntil(async () => (await fetch(`${url}/health/ready`)).status === 200, `${url} ready`, 20_000, 50);
    }
    console.log(`/health/ready is 200 again ${Date.now() - restartedAt} ms after the broker's ready line`);
    await waitForStatus(waiting, 'PAID');
    await waitUntil(
      async () => (await fetch(`${sample!.orderUrl}/health/outbox`)).status === 200,
      'the outbox check to pass again',
      20_000,
      200,
    );
  }, 120_000);
});

function linksTo(span: ReceivedSpan, target: ReceivedSpan): boolean {
  return span.links.some((link) => link.traceId === target.traceId && link.spanId === target.spanId);
}

function topic(name: string): Record<string, string> {
  return { messaging_destination_name: name };
}

function outcome(name: string): Record<string, string> {
  return { messaging_reliablemq_outcome: name };
}

function operation(name: string): Record<string, string> {
  return { messaging_operation_name: name };
}
