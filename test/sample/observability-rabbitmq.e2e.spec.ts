import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startSampleProcesses, type SampleProcesses } from '../../apps/sample/sample-processes';
import { OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver';
import { scrape, type Scrape } from '../support/prometheus-scrape';
import { deleteRabbitMqObjects, listRabbitMqObjectsWithPrefix } from '../support/rabbitmq-admin';
import { POSTGRES_URL, RABBITMQ_URL, describeWithService, uniqueName } from '../support/services';
import { waitUntil } from '../support/wait-until';

/**
 * The sample's services as their own processes on RabbitMQ with their outboxes in PostgreSQL, traced to an OTLP/HTTP
 * JSON receiver in this test: one order's spans link across the processes as on the standalone broker, the metrics
 * parse and move by that order's work, and RabbitMQ's queue depths stand in for the lag.
 */
describeWithService(['rabbitmq', 'postgres'], 'the sample on RabbitMQ and PostgreSQL, observed', () => {
  const root = mkdtempSync(join(tmpdir(), 'rmq-observe-rabbit-'));
  const database = uniqueName('sample_observe');
  const prefix = uniqueName('sob').replace(/_/g, '-').slice(0, 32);
  const databaseUrl = (() => {
    const url = new URL(POSTGRES_URL);
    url.pathname = `/${database}`;
    return url.toString();
  })();
  let receiver: OtlpReceiver;
  let sample: SampleProcesses | undefined;

  beforeAll(async () => {
    const admin = await new DataSource({ type: 'postgres', url: POSTGRES_URL }).initialize();
    try {
      await admin.query(`CREATE DATABASE "${database}"`);
    } finally {
      await admin.destroy();
    }
    receiver = await OtlpReceiver.start();
    sample = await startSampleProcesses({
      dataDir: join(root, 'data'),
      orderPort: 0,
      paymentPort: 0,
      brokerPort: 0,
      retryDelays: '50ms',
      rabbitmq: { url: RABBITMQ_URL, databaseUrl, prefix },
      env: {
        NO_COLOR: '1',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '100',
      },
      output: () => undefined,
    });
  }, 120_000);

  afterAll(async () => {
    await sample?.close();
    await receiver?.close();
    const listed = await listRabbitMqObjectsWithPrefix(`${prefix}.`).catch(() => ({ queues: [], exchanges: [] }));
    await deleteRabbitMqObjects(listed);
    const admin = await new DataSource({ type: 'postgres', url: POSTGRES_URL }).initialize();
    try {
      await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    } finally {
      await admin.destroy();
    }
    rmSync(root, { recursive: true, force: true });
  }, 60_000);

  it('one order: spans linked across processes, counters moved by exactly that order, queue depths as lag', async () => {
    const orderMetrics = (): Promise<Scrape> => scrape(`${sample!.orderUrl}/metrics`);
    const paymentMetrics = (): Promise<Scrape> => scrape(`${sample!.paymentUrl}/metrics`);
    const [orderBefore, paymentBefore] = await Promise.all([orderMetrics(), paymentMetrics()]);

    const response = await fetch(`${sample!.orderUrl}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ customerId: 'c-1', amount: 42.5, card: '4242424242424242' }),
    });
    expect(response.status).toBe(201);
    const { id } = (await response.json()) as { id: string };
    await waitUntil(
      async () =>
        ((await (await fetch(`${sample!.orderUrl}/orders/${id}`)).json()) as { status: string }).status === 'PAID',
      'the order to be paid',
      30_000,
      50,
    );

    let create: ReceivedSpan | undefined;
    const linked = (name: string): ReceivedSpan | undefined =>
      receiver.spans.find(
        (span) =>
          span.name === name &&
          span.links.some((link) => link.traceId === create!.traceId && link.spanId === create!.spanId),
      );
    await waitUntil(
      () =>
        (create = receiver.spans.find(
          (span) => span.name === 'create order.created' && span.attributes['messaging.reliablemq.key'] === id,
        )) !== undefined &&
        linked('send order.created') !== undefined &&
        linked('process order.created') !== undefined,
      "the order's create, send and process spans",
      15_000,
      50,
    );
    expect(create).toMatchObject({ service: 'order-service', kind: 4 });
    expect(linked('send order.created')).toMatchObject({
      service: 'order-service',
      attributes: { 'messaging.system': 'rabbitmq', 'messaging.destination.name': 'order.created' },
    });
    expect(linked('process order.created')).toMatchObject({
      service: 'payment-service',
      kind: 5,
      attributes: {
        'messaging.system': 'rabbitmq',
        'messaging.consumer.group.name': 'payment-service',
        'messaging.reliablemq.key': id,
      },
    });

    const [orderAfter, paymentAfter] = await Promise.all([orderMetrics(), paymentMetrics()]);
    const delta = (before: Scrape, after: Scrape, name: string, labels: Record<string, string> = {}): number =>
      after.sum(name, labels) - before.sum(name, labels);
    const moved = {
      order: {
        sent: delta(orderBefore, orderAfter, 'messaging_client_sent_messages_total', topic('order.created')),
        relayed: delta(orderBefore, orderAfter, 'reliablemq_relay_rows_total', {
          messaging_reliablemq_outcome: 'sent',
        }),
        consumed: delta(
          orderBefore,
          orderAfter,
          'messaging_client_consumed_messages_total',
          topic('payment.succeeded'),
        ),
        done: delta(orderBefore, orderAfter, 'reliablemq_consumer_outcomes_total', {
          messaging_reliablemq_outcome: 'done',
        }),
      },
      payment: {
        consumed: delta(
          paymentBefore,
          paymentAfter,
          'messaging_client_consumed_messages_total',
          topic('order.created'),
        ),
        done: delta(paymentBefore, paymentAfter, 'reliablemq_consumer_outcomes_total', {
          messaging_reliablemq_outcome: 'done',
        }),
        // payment.succeeded is committed into the payment service's outbox on RabbitMQ, and its relay sends it.
        relayed: delta(paymentBefore, paymentAfter, 'reliablemq_relay_rows_total', {
          messaging_reliablemq_outcome: 'sent',
        }),
        sent: delta(paymentBefore, paymentAfter, 'messaging_client_sent_messages_total', topic('payment.succeeded')),
      },
    };
    console.log(`Counters moved by one order on RabbitMQ: ${JSON.stringify(moved)}`);
    // payment.succeeded counts two sends on RabbitMQ: the half message (whose record the transport keeps in the
    // payment service's database) and the relay's send of it once committed; on the standalone broker the commit
    // makes the half message visible, and it counts one.
    expect(moved).toEqual({
      order: { sent: 1, relayed: 1, consumed: 1, done: 1 },
      payment: { consumed: 1, done: 1, relayed: 1, sent: 2 },
    });

    // RabbitMQ tells the ready messages of each group's queues and DLQ; the lag in time comes from the deliveries the
    // service holds unacked: none once the order is handled, and no message ready, so 0.
    const lag = { messaging_consumer_group_name: 'payment-service', messaging_destination_name: 'order.created' };
    expect(paymentAfter.value('reliablemq_consumer_lag', lag)).toBe(0);
    expect(paymentAfter.value('reliablemq_dlq_messages', { messaging_consumer_group_name: 'payment-service' })).toBe(0);
    expect(paymentAfter.samples('reliablemq_outbox_pending')).toHaveLength(1);
    expect(paymentAfter.value('reliablemq_consumer_lag_latency', lag)).toBe(0);
    for (const url of [sample!.orderUrl, sample!.paymentUrl]) {
      const ready = await fetch(`${url}/health/ready`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toMatchObject({ info: { 'reliable-mq': { transport: 'rabbitmq', connected: true } } });
    }
  }, 90_000);
});

function topic(name: string): Record<string, string> {
  return { messaging_destination_name: name };
}
