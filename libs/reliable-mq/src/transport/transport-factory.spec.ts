import { Injectable } from '@nestjs/common';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { describe, expect, it } from 'vitest';
import {
  ConfigurationError,
  MqConsumer,
  OutboxTransactionalOperations,
  RELIABLE_MQ_TRANSPORT,
  ReliableMqModule,
  ReliablePublisher,
  reliableMqEntities,
  type InboundHandler,
  type SubscriptionSpec,
  type Transport,
  type TransportFactory,
  type TransportFactoryContext,
  type TransportMessage,
} from '@reliable-mq/nestjs';
import { temporaryTransport, waitForIdle } from '@reliable-mq/nestjs/testing';
import { cleanupAfterEach, startTestingModule, startupErrorOf } from '../../test/testing-module';

const cleanups = cleanupAfterEach();
const TOPIC = 'order.created';

/**
 * A transport the framework does not know: it keeps its messages on an inner transport and its transactional
 * messages in the application's database, committing them into the outbox, as a broker without half messages needs.
 */
class LedgerBackedTransport implements Transport {
  readonly kind = 'ledger-backed';
  readonly published: TransportMessage[][] = [];
  readonly transactions: OutboxTransactionalOperations;
  closed = false;

  constructor(
    private readonly inner: Transport,
    context: TransportFactoryContext,
  ) {
    this.transactions = new OutboxTransactionalOperations({
      dataSource: context.dataSource!,
      transactionTimeoutMs: 60_000,
      checkIntervalMs: 60_000,
      transactionCheckMax: 3,
      onCommitted: () => context.wakeRelay(),
      warn: (message) => context.logger('LedgerBacked').warn(message),
      error: (message) => context.logger('LedgerBacked').error(message),
    });
  }

  get isConnected(): boolean | undefined {
    return this.inner.isConnected;
  }

  get deadLetters(): Transport['deadLetters'] {
    return this.inner.deadLetters;
  }

  async connect(): Promise<void> {
    await this.inner.connect();
  }

  ensureTopic(topic: string): Promise<void> {
    return this.inner.ensureTopic(topic);
  }

  publish(batch: readonly TransportMessage[]): ReturnType<Transport['publish']> {
    this.published.push([...batch]);
    return this.inner.publish(batch);
  }

  subscribe(spec: SubscriptionSpec, handler: InboundHandler): ReturnType<Transport['subscribe']> {
    return this.inner.subscribe(spec, handler);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.transactions.close();
    await this.inner.close();
  }
}

@Injectable()
class Orders {
  readonly seen: unknown[] = [];

  @MqConsumer({ topic: TOPIC, group: 'billing', startFrom: 'earliest' })
  async onOrder(payload: unknown): Promise<void> {
    this.seen.push(payload);
  }
}

async function sqliteDataSource(): Promise<DataSource> {
  const dir = mkdtempSync(join(tmpdir(), 'rmq-factory-db-'));
  const dataSource = new DataSource({
    type: 'better-sqlite3',
    database: join(dir, 'app.sqlite'),
    entities: reliableMqEntities,
  });
  await dataSource.initialize();
  cleanups.push(async () => {
    if (dataSource.isInitialized) await dataSource.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  return dataSource;
}

async function startWith(transport: TransportFactory, dataSource?: DataSource) {
  return startTestingModule(
    {
      imports: [
        ReliableMqModule.forRoot({
          producerGroup: 'order-service',
          transport,
          dataSource,
          runMigrations: dataSource !== undefined,
          // Hourly: only a wake-up sends an outbox row within a test.
          relay: { sweepCron: '0 0 * * * *' },
        }),
      ],
      providers: [Orders],
    },
    cleanups,
  );
}

describe('a transport of its own, through a factory', () => {
  it('is created with the context, used for publishing and consuming, and closed at shutdown', async () => {
    const dataSource = await sqliteDataSource();
    const contexts: TransportFactoryContext[] = [];
    let created: LedgerBackedTransport | undefined;
    const inner = temporaryTransport({ topics: [TOPIC] });
    const { app, close } = await startWith(async (context) => {
      contexts.push(context);
      created = new LedgerBackedTransport(await inner(context), context);
      return created;
    }, dataSource);
    expect(contexts).toHaveLength(1);
    expect(contexts[0]).toMatchObject({ producerGroup: 'order-service', dataSource });
    expect(app.get<Transport>(RELIABLE_MQ_TRANSPORT)).toBe(created);

    const publisher = app.get(ReliablePublisher);
    await publisher.transaction((manager) =>
      publisher.publish({ topic: TOPIC, key: 'o-1', payload: { orderId: 'o-1' } }, { manager }),
    );
    await waitForIdle(app);
    expect(app.get(Orders).seen).toEqual([{ orderId: 'o-1' }]);
    expect(created!.published.flat().map((message) => message.key)).toEqual(['o-1']);
    await close();
    expect(created!.closed).toBe(true);
  });

  it('commits transactional messages into the outbox and wakes the relay, which sends them at once', async () => {
    const dataSource = await sqliteDataSource();
    let created: LedgerBackedTransport | undefined;
    const inner = temporaryTransport({ topics: [TOPIC] });
    const { app } = await startWith(async (context) => {
      created = new LedgerBackedTransport(await inner(context), context);
      return created;
    }, dataSource);
    const started = Date.now();
    const result = await app
      .get(ReliablePublisher)
      .sendInTransaction({ topic: TOPIC, key: 'o-2', payload: { orderId: 'o-2' } }, async () => 'commit');
    expect(result).toMatchObject({ outcome: 'commit', settled: true });
    await waitForIdle(app, { timeoutMs: 5_000 });
    expect(app.get(Orders).seen).toEqual([{ orderId: 'o-2' }]);
    // The relay's sweep runs hourly here: the commit's wake-up is what sent it.
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await created!.transactions.get(result.txId)).toMatchObject({ state: 'committed', resolvedBy: 'producer' });
  });

  it.each([
    ['a factory that resolves nothing', () => undefined, /resolved undefined, not a transport object/],
    ['a transport without a kind', () => ({ publish: () => undefined }), /has no `kind`/],
    [
      'a transport without subscribe',
      () => ({
        kind: 'half-done',
        ensureTopic: () => undefined,
        publish: () => undefined,
        close: async () => undefined,
      }),
      /"half-done" transport has no subscribe method/,
    ],
  ])('refuses at startup %s, saying what a factory must resolve', async (_, factory, problem) => {
    const error = await startupErrorOf(
      {
        imports: [
          ReliableMqModule.forRoot({
            producerGroup: 'order-service',
            transport: factory as unknown as TransportFactory,
          }),
        ],
      },
      cleanups,
    );
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(problem);
    expect((error as Error).message).toMatch(/implements Transport \(kind, ensureTopic, publish, subscribe/);
  });

  it('names the built-in kinds and the factory for an unknown kind', async () => {
    const error = await startupErrorOf(
      { imports: [ReliableMqModule.forRoot({ producerGroup: 'svc', transport: { kind: 'kafka' } as never })] },
      cleanups,
    );
    expect((error as Error).message).toMatch(
      /transport.kind "kafka" is not available; use "embedded", "remote" or "rabbitmq", or pass a factory/,
    );
  });

  it('names a misspelt embedded option instead of ignoring it', async () => {
    const error = await startupErrorOf(
      {
        imports: [
          ReliableMqModule.forRoot({
            producerGroup: 'svc',
            transport: { kind: 'embedded', dataDir: 'unused', threads: 'worker' } as never,
          }),
        ],
      },
      cleanups,
    );
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(
      /transport has no option "threads" for kind "embedded"; its options are kind, dataDir, sharedEngine, thread, flush, topics, engine\./,
    );
  });
});
