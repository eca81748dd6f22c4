import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { SpanKind, SpanStatusCode, trace, type Attributes } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  HOT_PATH_METRICS as M,
  MessagingAttribute as A,
  MessagingEvent,
  MqConsumer,
  NonRetryableError,
  RELIABLE_MQ_TRANSPORT,
  TransactionChecker,
  RabbitMqTransport,
  ReliableMqModule,
  ReliablePublisher,
  type LocalTransactionOutcome,
  type MessageContext,
  type ReliableMqModuleOptions,
  type TransactionCheckContext,
  type Transport,
  type TransportOptions,
} from '@reliable-mq/nestjs';
import { temporaryEmbeddedTransport } from '@reliable-mq/nestjs/testing';
import { cleanupAfterEach, startTestingModule } from '../../libs/reliable-mq/test/testing-module';
import { BrokerProcess, TEST_BROKER_TOKEN } from '../support/broker-process';
import { InMemoryTelemetry, traceparentOf } from '../support/in-memory-telemetry';
import { TestDatabase, type TestDatabaseKind } from '../support/outbox-test-kit';
import { deleteRabbitMqObjects } from '../support/rabbitmq-admin';
import { MARIADB_URL, POSTGRES_URL, RABBITMQ_URL, describeWithService, uniqueName } from '../support/services';
import { waitUntil } from '../support/wait-until';

/**
 * One order through a Nest application, with an OpenTelemetry SDK in memory, on each transport (RabbitMQ with its
 * outbox in PostgreSQL, the others in SQLite): the `create` span in
 * the request's trace, the relay's `send` span linked to it, and the consumer's `process` span linked to it, with the
 * messaging attributes; each attempt of a retried message, the move to the DLQ and a resend from it on the trace; and
 * the hot-path counters moved by exactly what happened.
 */

interface Order {
  orderId: string;
  /** Attempts that fail before one succeeds. */
  failTimes?: number;
  /** Declined for good, until an operator resends it from the DLQ. */
  declined?: boolean;
}

class GatewayTimeoutError extends Error {
  override name = 'GatewayTimeoutError';
}

const GROUP = 'payment-service';

interface Payments {
  readonly deliveries: MessageContext[];
}

/** A handler of its own per test topic: a shared broker must not hand one test's messages to another's handler. */
function paymentsFor(topic: string): new () => Payments {
  @Injectable()
  class TopicPayments implements Payments {
    readonly deliveries: MessageContext[] = [];

    @MqConsumer<Order>({
      topic,
      group: GROUP,
      startFrom: 'earliest',
      delayLevels: '50ms 50ms 50ms',
      maxReconsumeTimes: 2,
      dedupKey: (order) => order.orderId,
    })
    async charge(order: Order, ctx: MessageContext): Promise<void> {
      this.deliveries.push(ctx);
      // The handler's own work: its span must land under the delivery's process span.
      trace.getTracer('payments').startActiveSpan('charge card', (span) => span.end());
      if (order.declined && ctx.headers['x-rmq-resent-from-dlq'] === undefined) {
        throw new NonRetryableError('card declined');
      }
      if (ctx.attempt < (order.failTimes ?? 0)) throw new GatewayTimeoutError('payment gateway timed out');
    }
  }
  return TopicPayments;
}

interface TransportCase {
  kind: 'embedded' | 'remote' | 'rabbitmq';
  system: 'reliablemq' | 'rabbitmq';
  /** Where the outbox lives. */
  database: TestDatabaseKind;
  /** The transport options of one test's application, and what to remove once it is closed. */
  options(topic: string): { transport: TransportOptions; afterClose(transport: Transport): Promise<void> };
}

interface Started {
  publisher: ReliablePublisher;
  payments: Payments;
  transport: Transport;
}

const cleanups = cleanupAfterEach();
let telemetry: InMemoryTelemetry;

async function startApp(
  kase: TransportCase,
  topic: string,
  extra: Partial<ReliableMqModuleOptions> = {},
  providers: Array<new () => object> = [],
): Promise<Started & { app: INestApplicationContext }> {
  const db = await TestDatabase.create(
    kase.database,
    { postgres: POSTGRES_URL, mariadb: MARIADB_URL },
    uniqueName('obs'),
  );
  cleanups.push(() => db.dispose());
  const { transport, afterClose } = kase.options(topic);
  const opened: { transport?: Transport } = {};
  cleanups.push(async () => {
    if (opened.transport) await afterClose(opened.transport);
  });
  const Payments = paymentsFor(topic);
  const { app } = await startTestingModule(
    {
      imports: [
        ReliableMqModule.forRoot({
          producerGroup: 'order-service',
          dataSource: db.dataSource,
          dedup: { store: 'memory' },
          relay: { sweepCron: '*/1 * * * * *' },
          transport,
          ...extra,
        }),
      ],
      providers: [Payments, ...providers],
    },
    cleanups,
  );
  opened.transport = app.get<Transport>(RELIABLE_MQ_TRANSPORT);
  return { app, publisher: app.get(ReliablePublisher), payments: app.get(Payments), transport: opened.transport };
}

/** Places an order in the business transaction of an HTTP request's span, as a controller would. */
async function placeOrder(started: Started, topic: string, order: Order): Promise<string> {
  return trace.getTracer('orders-http').startActiveSpan('POST /orders', async (request) => {
    try {
      return await started.publisher.transaction((manager) =>
        started.publisher.publish({ topic, key: order.orderId, payload: order }, { manager }),
      );
    } finally {
      request.end();
    }
  });
}

const byStart = (a: ReadableSpan, b: ReadableSpan): number =>
  a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1];

function spansOf(name: string, kind: SpanKind, messageId?: string): ReadableSpan[] {
  return telemetry
    .named(name, kind)
    .filter((span) => messageId === undefined || span.attributes[A.messageId] === messageId)
    .sort(byStart);
}

function createSpanOf(topic: string, messageId: string): ReadableSpan {
  const spans = spansOf(`create ${topic}`, SpanKind.PRODUCER, messageId);
  expect(spans).toHaveLength(1);
  return spans[0]!;
}

function expectLinkedTo(span: ReadableSpan, creation: ReadableSpan): void {
  expect(span.links.map((link) => link.context.spanId)).toContain(creation.spanContext().spanId);
  expect(span.links.find((link) => link.context.spanId === creation.spanContext().spanId)!.context.traceId).toBe(
    creation.spanContext().traceId,
  );
}

function eventsOf(span: ReadableSpan, name: string): Attributes[] {
  return span.events.filter((event) => event.name === name).map((event) => event.attributes ?? {});
}

function traceSuite(kase: TransportCase): void {
  const system = kase.system;

  it('one order: create in the request, send linked to it, process linked to it, counters moved once', async () => {
    const topic = `order.created.${randomUUID().slice(0, 8)}`;
    const started = await startApp(kase, topic);
    const id = await placeOrder(started, topic, { orderId: 'o-1' });
    await waitUntil(
      () =>
        spansOf(`process ${topic}`, SpanKind.CONSUMER).length === 1 && telemetry.named(`send ${topic}`).length === 1,
      'the process and send spans',
    );

    const [request] = telemetry.named('POST /orders');
    const create = createSpanOf(topic, id);
    expect(create.parentSpanContext?.spanId).toBe(request!.spanContext().spanId);
    expect(create.spanContext().traceId).toBe(request!.spanContext().traceId);
    expect(create.attributes).toMatchObject({
      [A.system]: system,
      [A.operationName]: 'create',
      [A.operationType]: 'create',
      [A.destinationName]: topic,
      [A.messageId]: id,
      [A.bodySize]: Buffer.byteLength(JSON.stringify({ orderId: 'o-1' })),
      [A.key]: 'o-1',
      [A.producerGroup]: 'order-service',
      [A.transport]: kase.kind,
    });

    const [send] = telemetry.named(`send ${topic}`) as [ReadableSpan];
    expect(send.kind).toBe(SpanKind.PRODUCER);
    // The relay's round is a trace of its own, whatever request's commit woke it.
    expect(send.parentSpanContext).toBeUndefined();
    expect(send.spanContext().traceId).not.toBe(create.spanContext().traceId);
    expectLinkedTo(send, create);
    expect(send.attributes).toMatchObject({
      [A.system]: system,
      [A.operationName]: 'send',
      [A.operationType]: 'send',
      [A.destinationName]: topic,
      [A.messageId]: id,
      [A.key]: 'o-1',
    });
    expect(send.status.code).not.toBe(SpanStatusCode.ERROR);

    const [processed] = spansOf(`process ${topic}`, SpanKind.CONSUMER) as [ReadableSpan];
    expect(processed.parentSpanContext).toBeUndefined();
    expectLinkedTo(processed, create);
    expect(processed.attributes).toMatchObject({
      [A.system]: system,
      [A.operationName]: 'process',
      [A.operationType]: 'process',
      [A.destinationName]: topic,
      [A.consumerGroupName]: GROUP,
      [A.messageId]: id,
      [A.bodySize]: Buffer.byteLength(JSON.stringify({ orderId: 'o-1' })),
      [A.key]: 'o-1',
      [A.reconsumeTimes]: 0,
      [A.dedupKey]: 'o-1',
      [A.dedupHit]: false,
    });
    // The handler ran inside the process span, and saw the creation context in its headers.
    const [charge] = telemetry.named('charge card');
    expect(charge!.parentSpanContext?.spanId).toBe(processed.spanContext().spanId);
    expect(started.payments.deliveries[0]!.headers.traceparent).toBe(traceparentOf(create));

    const topicOnly = { [A.destinationName]: topic };
    expect(await telemetry.total(M.sentMessages.name, { ...topicOnly, [A.system]: system })).toBe(1);
    expect(await telemetry.total(M.sentMessages.name, { [A.errorType]: undefined })).toBe(1);
    expect(await telemetry.total(M.consumedMessages.name, { ...topicOnly, [A.consumerGroupName]: GROUP })).toBe(1);
    expect(await telemetry.total(M.handlerOutcomes.name, { ...topicOnly, [A.outcome]: 'done' })).toBe(1);
    expect(await telemetry.total(M.handlerOutcomes.name)).toBe(1);
    expect(await telemetry.total(M.processDuration.name, topicOnly)).toBe(1);
    expect(await telemetry.total(M.operationDuration.name, { ...topicOnly, [A.operationName]: 'create' })).toBe(1);
    expect(await telemetry.total(M.operationDuration.name, { ...topicOnly, [A.operationName]: 'send' })).toBe(1);
    expect(await telemetry.total(M.relayRows.name, { [A.outcome]: 'sent' })).toBe(1);
    expect(await telemetry.total(M.relayRows.name)).toBe(1);
    expect(await telemetry.total(M.commitToSend.name, { [A.system]: system })).toBe(1);
  });

  it('a retried order shows each attempt, linked to its creation, with the retry and its delay level', async () => {
    const topic = `order.created.${randomUUID().slice(0, 8)}`;
    const started = await startApp(kase, topic);
    const id = await placeOrder(started, topic, { orderId: 'o-retry', failTimes: 2 });
    await waitUntil(() => spansOf(`process ${topic}`, SpanKind.CONSUMER).length === 3, 'three attempts', 20_000);
    const create = createSpanOf(topic, id);
    const attempts = spansOf(`process ${topic}`, SpanKind.CONSUMER);
    expect(attempts.map((span) => span.attributes[A.reconsumeTimes])).toEqual([0, 1, 2]);
    for (const attempt of attempts) {
      expectLinkedTo(attempt, create);
      expect(attempt.attributes[A.messageId]).toBe(id);
    }
    for (const [index, failed] of attempts.slice(0, 2).entries()) {
      expect(failed.status.code).toBe(SpanStatusCode.ERROR);
      expect(failed.attributes[A.errorType]).toBe('GatewayTimeoutError');
      expect(eventsOf(failed, MessagingEvent.retryScheduled)).toEqual([
        expect.objectContaining({ [A.delayLevel]: index + 1, [A.reconsumeTimes]: index }),
      ]);
      expect(failed.events.map((event) => event.name)).toContain('exception');
    }
    expect(attempts[2]!.status.code).not.toBe(SpanStatusCode.ERROR);
    expect(attempts[2]!.events.map((event) => event.name)).not.toContain(MessagingEvent.retryScheduled);

    const topicOnly = { [A.destinationName]: topic };
    expect(await telemetry.total(M.sentMessages.name, topicOnly)).toBe(1);
    expect(await telemetry.total(M.consumedMessages.name, topicOnly)).toBe(3);
    expect(await telemetry.total(M.handlerOutcomes.name, { ...topicOnly, [A.outcome]: 'retried' })).toBe(2);
    expect(await telemetry.total(M.handlerOutcomes.name, { ...topicOnly, [A.outcome]: 'done' })).toBe(1);
    expect(await telemetry.total(M.handlerOutcomes.name)).toBe(3);
    expect(await telemetry.total(M.processDuration.name, { ...topicOnly, [A.errorType]: 'GatewayTimeoutError' })).toBe(
      2,
    );
    expect(await telemetry.total(M.processDuration.name, topicOnly)).toBe(3);
  });

  it('dead-lettered orders show the move to the DLQ, and a resend from it comes back on the same creation', async () => {
    const topic = `order.created.${randomUUID().slice(0, 8)}`;
    const started = await startApp(kase, topic);
    const exhausted = await placeOrder(started, topic, { orderId: 'o-exhausted', failTimes: 99 });
    const declined = await placeOrder(started, topic, { orderId: 'o-declined', declined: true });
    const processOf = (id: string): ReadableSpan[] => spansOf(`process ${topic}`, SpanKind.CONSUMER, id);
    await waitUntil(
      () => processOf(exhausted).length === 3 && processOf(declined).length === 1,
      'the attempts of both orders',
      20_000,
    );

    const exhaustedAttempts = processOf(exhausted);
    expect(exhaustedAttempts.map((span) => eventsOf(span, MessagingEvent.retryScheduled).length)).toEqual([1, 1, 0]);
    expect(eventsOf(exhaustedAttempts[2]!, MessagingEvent.deadLettered)).toEqual([
      expect.objectContaining({
        [A.deadLetterReason]: 'max_reconsume_times',
        [A.reconsumeTimes]: 2,
        [A.errorType]: 'GatewayTimeoutError',
      }),
    ]);
    const [declinedAttempt] = processOf(declined) as [ReadableSpan];
    expect(eventsOf(declinedAttempt, MessagingEvent.deadLettered)).toEqual([
      expect.objectContaining({ [A.deadLetterReason]: 'non_retryable', [A.errorType]: 'NonRetryableError' }),
    ]);

    // An operator resends the declined order from the console: its next delivery says so, on the same creation.
    await waitUntil(
      async () => (await started.transport.deadLetters.list({ group: GROUP, key: 'o-declined' })).total === 1,
      'the dead letter',
    );
    const { items } = await started.transport.deadLetters.list({ group: GROUP, key: 'o-declined' });
    await started.transport.deadLetters.resend([items[0]!.id]);
    await waitUntil(() => processOf(declined).length === 2, 'the resent delivery', 20_000);
    const resent = processOf(declined)[1]!;
    expectLinkedTo(resent, createSpanOf(topic, declined));
    expect(resent.attributes[A.resentFromDeadLetter]).toBe(String(items[0]!.id));
    expect(eventsOf(resent, MessagingEvent.resentFromDeadLetter)).toHaveLength(1);
    expect(resent.status.code).not.toBe(SpanStatusCode.ERROR);

    const topicOnly = { [A.destinationName]: topic };
    expect(await telemetry.total(M.sentMessages.name, topicOnly)).toBe(2);
    expect(await telemetry.total(M.consumedMessages.name, topicOnly)).toBe(5);
    expect(await telemetry.total(M.handlerOutcomes.name, { ...topicOnly, [A.outcome]: 'retried' })).toBe(2);
    expect(await telemetry.total(M.handlerOutcomes.name, { ...topicOnly, [A.outcome]: 'dead_lettered' })).toBe(2);
    expect(await telemetry.total(M.handlerOutcomes.name, { ...topicOnly, [A.outcome]: 'done' })).toBe(1);
    expect(await telemetry.total(M.relayRows.name, { [A.outcome]: 'sent' })).toBe(2);
  });
}

beforeEach(() => {
  telemetry = InMemoryTelemetry.install();
});
afterEach(async () => {
  await telemetry.uninstall();
});

const embedded = (engine: Record<string, number> = {}): TransportCase => ({
  kind: 'embedded',
  system: 'reliablemq',
  database: 'sqlite',
  options: (topic) => {
    const temp = temporaryEmbeddedTransport({ topics: [topic], engine });
    return { transport: temp.transport, afterClose: async () => temp.cleanup() };
  },
});

describe('Message tracing on the embedded transport', () => {
  traceSuite(embedded());
});

/** Answers checkbacks from what the local transaction recorded. */
@Injectable()
class LocalPayments {
  readonly paid = new Set<string>();
  readonly checks: TransactionCheckContext[] = [];

  @TransactionChecker()
  async check(order: Order, ctx: TransactionCheckContext): Promise<LocalTransactionOutcome> {
    this.checks.push(ctx);
    // A span of the checker's own: it must land under the checkback span.
    trace.getTracer('payments').startActiveSpan('find payment', (span) => span.end());
    return this.paid.has(order.orderId) ? 'commit' : 'unknown';
  }
}

describe('Message tracing options and paths, on the embedded transport', () => {
  it("tracing.processSpan 'parent' puts each delivery in the producer's trace, as a child of the creation", async () => {
    const topic = `order.created.${randomUUID().slice(0, 8)}`;
    const started = await startApp(embedded(), topic, { tracing: { processSpan: 'parent' } });
    const id = await placeOrder(started, topic, { orderId: 'o-2', failTimes: 1 });
    await waitUntil(() => spansOf(`process ${topic}`, SpanKind.CONSUMER).length === 2, 'both attempts');
    const create = createSpanOf(topic, id);
    for (const attempt of spansOf(`process ${topic}`, SpanKind.CONSUMER)) {
      expect(attempt.parentSpanContext?.spanId).toBe(create.spanContext().spanId);
      expect(attempt.spanContext().traceId).toBe(create.spanContext().traceId);
      expect(attempt.links).toEqual([]);
    }
    // The relay's send stays a trace of its own, linked: it carries rows of many requests at once.
    const [send] = telemetry.named(`send ${topic}`) as [ReadableSpan];
    expect(send.spanContext().traceId).not.toBe(create.spanContext().traceId);
    expectLinkedTo(send, create);
  });

  it('a duplicate skipped by dedup is on its process span, and counted as such', async () => {
    const topic = `order.created.${randomUUID().slice(0, 8)}`;
    const started = await startApp(embedded(), topic);
    const first = await placeOrder(started, topic, { orderId: 'o-3' });
    await waitUntil(() => spansOf(`process ${topic}`, SpanKind.CONSUMER, first).length === 1, 'the first delivery');
    const second = await placeOrder(started, topic, { orderId: 'o-3' });
    await waitUntil(() => spansOf(`process ${topic}`, SpanKind.CONSUMER, second).length === 1, 'the duplicate');
    const [skipped] = spansOf(`process ${topic}`, SpanKind.CONSUMER, second) as [ReadableSpan];
    expect(skipped.attributes).toMatchObject({ [A.dedupHit]: true, [A.dedupKey]: 'o-3' });
    expect(eventsOf(skipped, MessagingEvent.duplicateSkipped)).toHaveLength(1);
    expectLinkedTo(skipped, createSpanOf(topic, second));
    expect(started.payments.deliveries).toHaveLength(1);
    const topicOnly = { [A.destinationName]: topic };
    expect(await telemetry.total(M.handlerOutcomes.name, { ...topicOnly, [A.outcome]: 'duplicate' })).toBe(1);
    expect(await telemetry.total(M.handlerOutcomes.name, { ...topicOnly, [A.outcome]: 'done' })).toBe(1);
    expect(await telemetry.total(M.consumedMessages.name, topicOnly)).toBe(2);
  });

  it("a direct send() gets a create span and a send span linked to it, both in the caller's trace", async () => {
    const topic = `order.created.${randomUUID().slice(0, 8)}`;
    const started = await startApp(embedded(), topic);
    const id = await trace.getTracer('jobs').startActiveSpan('nightly job', async (job) => {
      try {
        return await started.publisher.send({ topic, key: 'o-4', payload: { orderId: 'o-4' } });
      } finally {
        job.end();
      }
    });
    await waitUntil(() => spansOf(`process ${topic}`, SpanKind.CONSUMER, id).length === 1, 'the delivery');
    const [job] = telemetry.named('nightly job') as [ReadableSpan];
    const create = createSpanOf(topic, id);
    const [send] = telemetry.named(`send ${topic}`) as [ReadableSpan];
    expect(create.parentSpanContext?.spanId).toBe(job.spanContext().spanId);
    expect(send.parentSpanContext?.spanId).toBe(job.spanContext().spanId);
    expectLinkedTo(send, create);
    expectLinkedTo(spansOf(`process ${topic}`, SpanKind.CONSUMER, id)[0]!, create);
    expect(await telemetry.total(M.sentMessages.name, { [A.destinationName]: topic })).toBe(1);
    // A direct send writes no outbox row: no create duration, no relay row.
    expect(await telemetry.total(M.operationDuration.name, { [A.operationName]: 'create' })).toBe(0);
    expect(await telemetry.total(M.relayRows.name)).toBe(0);
  });

  it('sendInTransaction, its local transaction, the checkback and the delivery are on one linked trace', async () => {
    const topic = `payment.succeeded.${randomUUID().slice(0, 8)}`;
    const started = await startApp(
      embedded({ transactionTimeoutMs: 200, checkIntervalMs: 200, maintenanceIntervalMs: 20 }),
      topic,
      {},
      [LocalPayments],
    );
    const local = started.app.get(LocalPayments);
    const committed = await started.publisher.sendInTransaction(
      { topic, key: 'o-5', payload: { orderId: 'o-5' } },
      async () => 'commit',
    );
    // The local transaction cannot tell: the broker checks back, and the checker finds the payment.
    const unknown = await started.publisher.sendInTransaction(
      { topic, key: 'o-6', payload: { orderId: 'o-6' } },
      async () => {
        local.paid.add('o-6');
        return 'unknown';
      },
    );
    await waitUntil(
      () =>
        spansOf(`process ${topic}`, SpanKind.CONSUMER, committed.messageId).length === 1 &&
        spansOf(`process ${topic}`, SpanKind.CONSUMER, unknown.messageId).length === 1 &&
        telemetry.named(`checkback ${topic}`).length >= 1,
      'both deliveries and the checkback',
      20_000,
    );

    const sendOf = (messageId: string): ReadableSpan => {
      const spans = spansOf(`send ${topic}`, SpanKind.PRODUCER, messageId);
      expect(spans).toHaveLength(1);
      return spans[0]!;
    };
    const committedSend = sendOf(committed.messageId);
    expect(committedSend.attributes).toMatchObject({
      [A.transactional]: true,
      [A.transactionId]: committed.txId,
      [A.halfMessageState]: 'commit',
      [A.producerGroup]: 'order-service',
    });
    const childrenOf = (parent: ReadableSpan): string[] =>
      telemetry
        .finished()
        .filter((span) => span.parentSpanContext?.spanId === parent.spanContext().spanId)
        .map((span) => span.name);
    expect(childrenOf(committedSend)).toEqual([`local_transaction ${topic}`, `commit ${topic}`]);
    expectLinkedTo(spansOf(`process ${topic}`, SpanKind.CONSUMER, committed.messageId)[0]!, committedSend);

    const unknownSend = sendOf(unknown.messageId);
    expect(unknownSend.attributes[A.halfMessageState]).toBe('unknown');
    expect(childrenOf(unknownSend)).toEqual([`local_transaction ${topic}`]);
    const [checkback] = telemetry.named(`checkback ${topic}`) as [ReadableSpan];
    expectLinkedTo(checkback, unknownSend);
    expect(checkback.attributes).toMatchObject({
      [A.messageId]: unknown.messageId,
      [A.transactionId]: unknown.txId,
      [A.halfMessageState]: 'commit',
      [A.checkCount]: local.checks[0]!.checkCount,
    });
    expect(childrenOf(checkback)).toEqual(['find payment']);
    expectLinkedTo(spansOf(`process ${topic}`, SpanKind.CONSUMER, unknown.messageId)[0]!, unknownSend);

    expect(await telemetry.total(M.sentMessages.name, { [A.destinationName]: topic })).toBe(2);
    expect(await telemetry.total(M.operationDuration.name, { [A.operationName]: 'commit' })).toBe(1);
    expect(await telemetry.total(M.checkbacks.name, { [A.halfMessageState]: 'commit' })).toBe(1);
  });
});

describe('Message tracing on the standalone broker (remote transport)', () => {
  let broker: BrokerProcess;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'rmq-tracing-broker-'));
    broker = await BrokerProcess.start({ dataDir, env: { BROKER_ENGINE_OPTIONS: '{"minFreeDiskBytes":0}' } });
  }, 60_000);
  afterAll(async () => {
    await broker?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  traceSuite({
    kind: 'remote',
    system: 'reliablemq',
    database: 'sqlite',
    options: (topic) => ({
      transport: { kind: 'remote', url: broker.url, token: TEST_BROKER_TOKEN, topics: [topic] },
      afterClose: async () => undefined,
    }),
  });
});

describeWithService(['rabbitmq', 'postgres'], 'Message tracing on RabbitMQ with the outbox in PostgreSQL', () => {
  traceSuite({
    kind: 'rabbitmq',
    system: 'rabbitmq',
    database: 'postgres',
    options: (topic) => ({
      transport: { kind: 'rabbitmq', url: RABBITMQ_URL, prefix: uniqueName('rmqo'), topics: [topic] },
      afterClose: async (transport) => {
        if (transport instanceof RabbitMqTransport) await deleteRabbitMqObjects(transport.declaredTopology());
      },
    }),
  });
});
