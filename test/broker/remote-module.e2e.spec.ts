import { Injectable } from '@nestjs/common';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerRefusedError,
  ConfigurationError,
  MqConsumer,
  RELIABLE_MQ_TRANSPORT,
  ReliableMqModule,
  ReliablePublisher,
  RemoteTransport,
  TransactionChecker,
  type LocalTransactionOutcome,
  type MessageContext,
  type TransactionCheckContext,
  type Transport,
} from '@reliable-mq/nestjs';
import { cleanupAfterEach, startTestingModule, startupErrorOf } from '../../libs/reliable-mq/test/testing-module';
import { BrokerProcess, TEST_BROKER_TOKEN } from '../support/broker-process';
import { waitUntil } from '../support/wait-until';

/**
 * ReliableMqModule with `transport: { kind: 'remote' }` against a broker process: wiring, options, consumers,
 * direct sends, and checkbacks routed from the broker over the network to the application's @TransactionChecker.
 */

const PAYMENTS = 'payment.confirmed';
let broker: BrokerProcess;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'rmq-remote-module-'));
  broker = await BrokerProcess.start({
    dataDir,
    env: {
      BROKER_ENGINE_OPTIONS: JSON.stringify({
        minFreeDiskBytes: 0,
        transactionTimeoutMs: 200,
        checkIntervalMs: 200,
        maintenanceIntervalMs: 20,
      }),
    },
  });
}, 60_000);

afterAll(async () => {
  await broker?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const cleanups = cleanupAfterEach();

@Injectable()
class LocalPayments {
  readonly paid = new Set<string>();
  readonly checks: Array<{ orderId: string; ctx: TransactionCheckContext }> = [];

  @TransactionChecker({ topic: PAYMENTS })
  async check(payload: { orderId: string }, ctx: TransactionCheckContext): Promise<LocalTransactionOutcome> {
    this.checks.push({ orderId: payload.orderId, ctx });
    return this.paid.has(payload.orderId) ? 'commit' : 'unknown';
  }
}

@Injectable()
class Shipping {
  readonly seen: Array<{ orderId: string; ctx: MessageContext }> = [];

  @MqConsumer<{ orderId: string }>({ topic: PAYMENTS, group: 'shipping', startFrom: 'earliest' })
  async onPayment(payload: { orderId: string }, ctx: MessageContext): Promise<void> {
    this.seen.push({ orderId: payload.orderId, ctx });
  }
}

function remoteModule(transport: Record<string, unknown>) {
  return ReliableMqModule.forRoot({
    producerGroup: 'payment-service',
    transport: { kind: 'remote', topics: [PAYMENTS], connectTimeoutMs: 5_000, ...transport } as never,
  });
}

describe('ReliableMqModule with the remote transport', () => {
  it('consumes, sends, and answers checkbacks through @TransactionChecker over the network', async () => {
    const { app } = await startTestingModule(
      { imports: [remoteModule({ url: broker.url, token: TEST_BROKER_TOKEN })], providers: [LocalPayments, Shipping] },
      cleanups,
    );
    expect(app.get<Transport>(RELIABLE_MQ_TRANSPORT)).toBeInstanceOf(RemoteTransport);
    const publisher = app.get(ReliablePublisher);
    const local = app.get(LocalPayments);
    const shipping = app.get(Shipping);

    await publisher.send({ topic: PAYMENTS, key: 'o-1', payload: { orderId: 'o-1' } });
    await waitUntil(() => shipping.seen.some((seen) => seen.orderId === 'o-1'), 'the direct send');

    // The local transaction cannot tell: the broker checks back, over the connection, with this app's checker.
    const result = await publisher.sendInTransaction(
      { topic: PAYMENTS, key: 'o-2', payload: { orderId: 'o-2' } },
      async () => {
        local.paid.add('o-2');
        return 'unknown';
      },
    );
    expect(result).toMatchObject({ outcome: 'unknown', settled: false });
    await waitUntil(() => shipping.seen.some((seen) => seen.orderId === 'o-2'), 'the message committed by checkback');
    expect(local.checks.find((check) => check.orderId === 'o-2')?.ctx).toMatchObject({
      txId: result.txId,
      messageId: result.messageId,
      producerGroup: 'payment-service',
      topic: PAYMENTS,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(shipping.seen.filter((seen) => seen.orderId === 'o-2')).toHaveLength(1);
  });

  it('falls back to BROKER_URL and BROKER_TOKEN', async () => {
    const saved = { url: process.env.BROKER_URL, token: process.env.BROKER_TOKEN };
    process.env.BROKER_URL = broker.url;
    process.env.BROKER_TOKEN = TEST_BROKER_TOKEN;
    cleanups.push(() => {
      if (saved.url === undefined) delete process.env.BROKER_URL;
      else process.env.BROKER_URL = saved.url;
      if (saved.token === undefined) delete process.env.BROKER_TOKEN;
      else process.env.BROKER_TOKEN = saved.token;
    });
    const { app } = await startTestingModule({ imports: [remoteModule({})] }, cleanups);
    const transport = app.get<RemoteTransport>(RELIABLE_MQ_TRANSPORT);
    expect(transport.url).toBe(broker.url);
    expect(transport.isConnected).toBe(true);
  });

  it.each([
    [{ url: 'http://127.0.0.1:7420' }, /must start with reliable-mq:\/\//],
    [{ url: 'reliable-mq://user:secret@127.0.0.1:7420' }, /not in the URL/],
    [{ url: 'reliable-mq://127.0.0.1:7420/path' }, /only a host and a port/],
    [{ url: 'reliable-mq://127.0.0.1', connectTimeoutMs: 'soon' }, /connectTimeoutMs/],
  ])('refuses bad options %j at startup with a sentence', async (transport, message) => {
    const error = await startupErrorOf({ imports: [remoteModule(transport)] }, cleanups);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(message);
  });

  it('refuses to start without a URL, naming BROKER_URL', async () => {
    const saved = process.env.BROKER_URL;
    delete process.env.BROKER_URL;
    cleanups.push(() => {
      if (saved !== undefined) process.env.BROKER_URL = saved;
    });
    const error = await startupErrorOf({ imports: [remoteModule({})] }, cleanups);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(/BROKER_URL/);
  });

  it('fails startup at once on a wrong token, rather than retrying until the timeout', async () => {
    const started = Date.now();
    const error = await startupErrorOf(
      { imports: [remoteModule({ url: broker.url, token: 'wrong-token-value', connectTimeoutMs: 20_000 })] },
      cleanups,
    );
    expect(error).toBeInstanceOf(BrokerRefusedError);
    expect((error as BrokerRefusedError).brokerCode).toBe('UNAUTHORIZED');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('with waitForConnection, fails startup with a sentence that says how to go on when no broker answers', async () => {
    const error = await startupErrorOf(
      {
        imports: [
          remoteModule({
            url: 'reliable-mq://127.0.0.1:1',
            token: TEST_BROKER_TOKEN,
            connectTimeoutMs: 500,
            waitForConnection: true,
          }),
        ],
      },
      cleanups,
    );
    expect((error as Error).message).toMatch(/Could not connect to the broker at reliable-mq:\/\/127\.0\.0\.1:1/);
    expect((error as Error).message).toMatch(/remove that option so that the application starts without it/);
  });

  it('starts without a broker by default, at once, and reports the transport as not connected', async () => {
    const started = Date.now();
    const { app } = await startTestingModule(
      {
        imports: [remoteModule({ url: 'reliable-mq://127.0.0.1:1', token: TEST_BROKER_TOKEN })],
        providers: [Shipping],
      },
      cleanups,
    );
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(app.get<RemoteTransport>(RELIABLE_MQ_TRANSPORT).isConnected).toBe(false);
  });
});
