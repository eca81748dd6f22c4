import { Injectable, Module, type DynamicModule } from '@nestjs/common';
import { Test, type TestingModule, type TestingModuleBuilder } from '@nestjs/testing';
import { existsSync } from 'node:fs';
import { DataSource } from 'typeorm';
import { describe, expect, it } from 'vitest';
import {
  EmbeddedTransport,
  MemoryDedupStore,
  MqConsumer,
  RELIABLE_MQ_DEDUP_STORE,
  RELIABLE_MQ_TRANSPORT,
  ReliableMqModule,
  ReliablePublisher,
  type MessageContext,
  type ReliableMqModuleOptions,
  type Transport,
} from '@reliable-mq/nestjs';
import { waitForIdle, withTemporaryTransport } from '@reliable-mq/nestjs/testing';
import { freePort } from '../../../../test/support/free-port';
import { orderChargesDataSource } from '../../test/order-charges-database';
import { cleanupAfterEach } from '../../test/testing-module';

const cleanups = cleanupAfterEach();

@Injectable()
class OrderService {
  constructor(
    private readonly publisher: ReliablePublisher,
    private readonly dataSource: DataSource,
  ) {}

  placeOrder(orderId: string, amount: number): Promise<string> {
    return this.publisher.transaction(async (manager) => {
      await manager.query('INSERT INTO orders (id, amount) VALUES (?, ?)', [orderId, amount]);
      return this.publisher.publish(
        { topic: 'order.created', key: orderId, payload: { orderId, amount } },
        { manager },
      );
    });
  }

  charges(): Promise<Array<{ order_id: string; amount: number }>> {
    return this.dataSource.query('SELECT order_id, amount FROM charges ORDER BY order_id');
  }
}

@Injectable()
class PaymentHandler {
  constructor(private readonly dataSource: DataSource) {}

  @MqConsumer({ topic: 'order.created', group: 'payment-service', dedupKey: (p: { orderId: string }) => p.orderId })
  async charge(payload: { orderId: string; amount: number }, ctx: MessageContext): Promise<void> {
    // The db dedup store hands over its transaction; a memory store none.
    await (ctx.manager ?? this.dataSource.manager).query('INSERT INTO charges (order_id, amount) VALUES (?, ?)', [
      payload.orderId,
      payload.amount,
    ]);
  }
}

/** The app's database: a provider of its own, as TypeOrmModule would give it. */
async function databaseModule(): Promise<DynamicModule> {
  const dataSource = await orderChargesDataSource('rmq-temporary-transport-db-', cleanups);
  @Module({})
  class DatabaseModule {}
  return {
    module: DatabaseModule,
    global: true,
    providers: [{ provide: DataSource, useValue: dataSource }],
    exports: [DataSource],
  };
}

/** An app as it is configured for production: ReliableMQ on a standalone broker that this test never runs. */
async function remoteBrokerApp(): Promise<DynamicModule> {
  const unreachable = `reliable-mq://127.0.0.1:${await freePort()}`;
  @Module({})
  class AppModule {}
  return {
    module: AppModule,
    imports: await databaseAndReliableMq({
      transport: { kind: 'remote', url: unreachable, token: 'secret', connectTimeoutMs: 300 },
    }),
    providers: [OrderService, PaymentHandler],
  };
}

/**
 * The app's database and ReliableMQ configured on it from forRootAsync, as production would, with `options` naming
 * the transport and the rest that the test is about.
 */
async function databaseAndReliableMq(
  options: Pick<ReliableMqModuleOptions, 'transport' | 'dedup'>,
): Promise<DynamicModule[]> {
  return [
    await databaseModule(),
    ReliableMqModule.forRootAsync({
      inject: [DataSource],
      useFactory: (dataSource: DataSource) => ({
        producerGroup: 'order-service',
        dataSource,
        runMigrations: true,
        ...options,
      }),
    }),
  ];
}

/** The app's testing module with ReliableMQ from forRootAsync on the given transport. */
async function appFromForRootAsync(
  options: Pick<ReliableMqModuleOptions, 'transport' | 'dedup'>,
): Promise<TestingModuleBuilder> {
  return Test.createTestingModule({
    imports: await databaseAndReliableMq(options),
    providers: [OrderService, PaymentHandler],
  });
}

async function started(moduleRef: TestingModule): Promise<TestingModule> {
  cleanups.push(() => moduleRef.close());
  await moduleRef.init();
  return moduleRef;
}

function dataDirOf(moduleRef: TestingModule): string {
  const transport = moduleRef.get<Transport>(RELIABLE_MQ_TRANSPORT);
  if (!(transport instanceof EmbeddedTransport))
    throw new Error(`expected the embedded transport, got ${transport.kind}`);
  return transport.engine.options.dataDir;
}

describe('withTemporaryTransport', () => {
  it('runs an app configured for a remote broker on a temporary embedded broker: publish, consume, dedup', async () => {
    const moduleRef = await started(
      await withTemporaryTransport(Test.createTestingModule({ imports: [await remoteBrokerApp()] })).compile(),
    );
    const orders = moduleRef.get(OrderService);
    await orders.placeOrder('o-1', 100);
    await orders.placeOrder('o-2', 250);
    const publisher = moduleRef.get(ReliablePublisher);
    await publisher.transaction((manager) =>
      publisher.publish({ topic: 'order.created', key: 'o-1', payload: { orderId: 'o-1', amount: 100 } }, { manager }),
    );
    await waitForIdle(moduleRef);
    // The redelivered o-1 is a duplicate for the handler's dedup key, so it is charged once.
    expect(await orders.charges()).toEqual([
      { order_id: 'o-1', amount: 100 },
      { order_id: 'o-2', amount: 250 },
    ]);
    expect(moduleRef.get<Transport>(RELIABLE_MQ_TRANSPORT).kind).toBe('embedded');
  });

  it('deletes the temporary broker directory when the app closes', async () => {
    const moduleRef = await withTemporaryTransport(
      Test.createTestingModule({ imports: [await remoteBrokerApp()] }),
    ).compile();
    await moduleRef.init();
    const dataDir = dataDirOf(moduleRef);
    expect(existsSync(dataDir)).toBe(true);
    await moduleRef.close();
    expect(existsSync(dataDir)).toBe(false);
  });

  it('gives each app a broker of its own', async () => {
    const first = await started(
      await withTemporaryTransport(Test.createTestingModule({ imports: [await remoteBrokerApp()] })).compile(),
    );
    const second = await started(
      await withTemporaryTransport(Test.createTestingModule({ imports: [await remoteBrokerApp()] })).compile(),
    );
    expect(dataDirOf(first)).not.toBe(dataDirOf(second));
    await first.get(OrderService).placeOrder('only-in-first', 1);
    await Promise.all([waitForIdle(first), waitForIdle(second)]);
    expect(await first.get(OrderService).charges()).toHaveLength(1);
    expect(await second.get(OrderService).charges()).toEqual([]);
  });

  it('replaces a RabbitMQ transport from forRootAsync, keeping its topics and queue counts', async () => {
    const url = `amqp://guest:guest@127.0.0.1:${await freePort()}`;
    const moduleRef = await started(
      await withTemporaryTransport(
        await appFromForRootAsync({
          transport: { kind: 'rabbitmq', url, topics: [{ name: 'order.created', queueCount: 3 }] },
        }),
      ).compile(),
    );
    const transport = moduleRef.get<Transport>(RELIABLE_MQ_TRANSPORT) as EmbeddedTransport;
    expect(transport.engine.getTopic('order.created')?.queueCount).toBe(3);
    await moduleRef.get(ReliablePublisher).transaction(async (manager) => {
      await manager.query("INSERT INTO orders (id, amount) VALUES ('r-1', 5)");
      await moduleRef
        .get(ReliablePublisher)
        .publish({ topic: 'order.created', key: 'r-1', payload: { orderId: 'r-1', amount: 5 } }, { manager });
    });
    await waitForIdle(moduleRef);
    expect(await moduleRef.get(OrderService).charges()).toEqual([{ order_id: 'r-1', amount: 5 }]);
  });

  it('leaves the dedup store to the app, which a Redis-dedup app overrides as a provider', async () => {
    const moduleRef = await started(
      await withTemporaryTransport(
        await appFromForRootAsync({
          transport: { kind: 'rabbitmq', url: 'amqp://127.0.0.1:1' },
          dedup: { store: 'redis', url: 'redis://127.0.0.1:1' },
        }),
      )
        .overrideProvider(RELIABLE_MQ_DEDUP_STORE)
        .useValue(new MemoryDedupStore())
        .compile(),
    );
    const orders = moduleRef.get(OrderService);
    await orders.placeOrder('m-1', 7);
    await waitForIdle(moduleRef);
    expect(await orders.charges()).toEqual([{ order_id: 'm-1', amount: 7 }]);
  });

  it('takes topics and engine options of its own; with autoCreateTopics off an unknown topic is refused', async () => {
    const moduleRef = await started(
      await withTemporaryTransport(Test.createTestingModule({ imports: [await remoteBrokerApp()] }), {
        topics: ['order.created'],
        engine: { autoCreateTopics: false },
      }).compile(),
    );
    const transport = moduleRef.get<Transport>(RELIABLE_MQ_TRANSPORT);
    await expect(
      transport.publish([{ id: 'm-1', topic: 'no.such.topic', headers: {}, body: Buffer.from('{}') }]),
    ).rejects.toThrow(/does not exist/);
  });

  it('is needed: without it the same app uses the remote transport it configures', async () => {
    // Depending on the transport's startup, an unreachable broker fails the start or leaves it disconnected.
    const outcome = await Test.createTestingModule({ imports: [await remoteBrokerApp()] })
      .compile()
      .then(
        (moduleRef) => {
          cleanups.push(() => moduleRef.close());
          return moduleRef.get<Transport>(RELIABLE_MQ_TRANSPORT).kind;
        },
        (error: unknown) => String(error),
      );
    expect(outcome).toMatch(/^remote$|127\.0\.0\.1:\d+/);
  });
});
