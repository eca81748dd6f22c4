import { Injectable, Module, Scope, type INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { IsInt, IsString, Min } from 'class-validator';
import { DataSource } from 'typeorm';
import { describe, expect, it } from 'vitest';
import {
  ConfigurationError,
  MqConsumer,
  NoActiveTransactionError,
  NonRetryableError,
  RELIABLE_MQ_TRANSPORT,
  ReliableMqModule,
  ReliablePublisher,
  type MessageContext,
  type Transport,
} from '@reliable-mq/nestjs';
import { temporaryEmbeddedTransport, waitForIdle } from '@reliable-mq/nestjs/testing';
import { orderChargesDataSource } from '../test/order-charges-database';
import { cleanupAfterEach, startTestingModule, startupErrorOf } from '../test/testing-module';

class PaymentDto {
  @IsString()
  orderId!: string;

  @IsInt()
  @Min(1)
  amount!: number;
}

interface Seen {
  payload: unknown;
  ctx: MessageContext;
}

@Injectable()
class PaymentHandler {
  readonly seen: Seen[] = [];

  @MqConsumer<PaymentDto>({
    topic: 'order.created',
    group: 'payment-service',
    dedupKey: (payload) => payload.orderId,
    dto: PaymentDto,
    startFrom: 'earliest',
    delayLevels: '10ms 10ms 10ms',
    maxReconsumeTimes: 2,
  })
  async charge(payload: PaymentDto, ctx: MessageContext): Promise<void> {
    this.seen.push({ payload, ctx });
    if (payload.amount === 13) throw new NonRetryableError('card declined');
    await ctx.manager!.query('INSERT INTO charges (order_id, amount) VALUES (?, ?)', [payload.orderId, payload.amount]);
  }
}

interface Harness {
  app: INestApplicationContext;
  dataSource: DataSource;
  handler: PaymentHandler;
  publisher: ReliablePublisher;
  close(): Promise<void>;
}

const cleanups = cleanupAfterEach();

function sqliteDataSource(): Promise<DataSource> {
  return orderChargesDataSource('rmq-module-db-', cleanups);
}

async function start(
  providers: Array<new (...args: never[]) => object> = [PaymentHandler],
  dedup?: { store: 'db'; batch: { maxMessages?: number; maxInFlight?: number } },
  thread: 'main' | 'worker' = 'main',
): Promise<Harness> {
  const dataSource = await sqliteDataSource();
  const temp = temporaryEmbeddedTransport({
    topics: ['order.created', 'payment.succeeded', 'payment.failed'],
    thread,
  });
  cleanups.push(temp.cleanup);
  const { app, close } = await startTestingModule(
    {
      imports: [
        ReliableMqModule.forRoot({
          producerGroup: 'order-service',
          transport: temp.transport,
          dataSource,
          runMigrations: true,
          relay: { sweepCron: '*/1 * * * * *' },
          ...(dedup ? { dedup } : {}),
        }),
      ],
      providers,
    },
    cleanups,
  );
  return {
    app,
    dataSource,
    handler: providers.includes(PaymentHandler) ? app.get(PaymentHandler) : (undefined as unknown as PaymentHandler),
    publisher: app.get(ReliablePublisher),
    close,
  };
}

async function placeOrder(h: Harness, orderId: string, amount: number): Promise<string> {
  return h.publisher.transaction(async (manager) => {
    await manager.query('INSERT INTO orders (id, amount) VALUES (?, ?)', [orderId, amount]);
    return h.publisher.publish({ topic: 'order.created', key: orderId, payload: { orderId, amount } }, { manager });
  });
}

describe('ReliableMqModule end to end on the embedded broker and SQLite', () => {
  it.each(['main', 'worker'] as const)(
    'in dedup batch mode, with the engine on the %s thread, charges each order once, a declined one alone goes to the DLQ, a resend is skipped',
    async (thread) => {
      const h = await start([PaymentHandler], { store: 'db', batch: { maxMessages: 16, maxInFlight: 2 } }, thread);
      const orders = Array.from({ length: 60 }, (_, i) => `b-${String(i).padStart(2, '0')}`);
      await h.publisher.transaction(async (manager) => {
        for (const [i, orderId] of orders.entries()) {
          const amount = i === 25 ? 13 : 100;
          await manager.query('INSERT INTO orders (id, amount) VALUES (?, ?)', [orderId, amount]);
          await h.publisher.publish(
            { topic: 'order.created', key: orderId, payload: { orderId, amount } },
            { manager },
          );
        }
        // The same order published twice: its dedup key is the order id.
        await h.publisher.publish(
          { topic: 'order.created', key: 'b-03', payload: { orderId: 'b-03', amount: 100 } },
          { manager },
        );
      });
      await waitForIdle(h.app);
      const charged = (await h.dataSource.query('SELECT order_id FROM charges ORDER BY order_id')) as Array<{
        order_id: string;
      }>;
      expect(charged.map((row) => row.order_id)).toEqual(orders.filter((id) => id !== 'b-25'));
      const letters = await h.app.get<Transport>(RELIABLE_MQ_TRANSPORT).deadLetters.list({ group: 'payment-service' });
      expect(letters.items.map((letter) => letter.key)).toEqual(['b-25']);
    },
  );

  it('delivers a message written in the business transaction, once, with its context and transaction', async () => {
    const h = await start();
    const id = await placeOrder(h, 'o-1', 100);
    await waitForIdle(h.app);
    expect(h.handler.seen).toHaveLength(1);
    const [{ payload, ctx }] = h.handler.seen as [Seen];
    expect(payload).toBeInstanceOf(PaymentDto);
    expect(payload).toMatchObject({ orderId: 'o-1', amount: 100 });
    expect(ctx).toMatchObject({
      id,
      topic: 'order.created',
      group: 'payment-service',
      key: 'o-1',
      attempt: 0,
      dedupKey: 'o-1',
    });
    expect(await h.dataSource.query('SELECT * FROM charges')).toEqual([{ order_id: 'o-1', amount: 100 }]);
  });

  it('sends nothing for a rolled-back transaction', async () => {
    const h = await start();
    await expect(
      h.publisher.transaction(async (manager) => {
        await h.publisher.publish(
          { topic: 'order.created', key: 'o-2', payload: { orderId: 'o-2', amount: 5 } },
          { manager },
        );
        throw new Error('business rule failed');
      }),
    ).rejects.toThrow('business rule failed');
    await placeOrder(h, 'o-3', 7);
    await waitForIdle(h.app);
    expect(h.handler.seen.map((s) => (s.payload as PaymentDto).orderId)).toEqual(['o-3']);
  });

  it('applies the effect once when the same business id arrives twice', async () => {
    const h = await start();
    await placeOrder(h, 'o-4', 10);
    await h.publisher.transaction((manager) =>
      h.publisher.publish({ topic: 'order.created', key: 'o-4', payload: { orderId: 'o-4', amount: 10 } }, { manager }),
    );
    await waitForIdle(h.app);
    expect(await h.dataSource.query("SELECT COUNT(*) AS n FROM charges WHERE order_id = 'o-4'")).toEqual([{ n: 1 }]);
    expect(h.app.get(ReliableMqModule) !== undefined).toBe(true);
  });

  it('dead-letters a NonRetryableError and an invalid payload with their reasons', async () => {
    const h = await start();
    await placeOrder(h, 'o-5', 13);
    await h.publisher.transaction((manager) =>
      h.publisher.publish(
        { topic: 'order.created', key: 'o-6', payload: { orderId: 'o-6', amount: 'lots' } },
        { manager },
      ),
    );
    await waitForIdle(h.app);
    const transport = h.app.get<Transport>(RELIABLE_MQ_TRANSPORT);
    const page = await transport.deadLetters.list({ group: 'payment-service' });
    const reasonOf = (key: string): string | undefined => page.items.find((letter) => letter.key === key)?.reason;
    expect(page.total).toBe(2);
    expect(reasonOf('o-5')).toContain('card declined');
    expect(reasonOf('o-6')).toMatch(/failed validation against PaymentDto: amount/);
    expect(await h.dataSource.query('SELECT COUNT(*) AS n FROM charges')).toEqual([{ n: 0 }]);
  });

  it('refuses publish without an active transaction', async () => {
    const h = await start();
    await expect(
      h.publisher.publish({ topic: 'order.created', payload: {} }, { manager: h.dataSource.manager }),
    ).rejects.toBeInstanceOf(NoActiveTransactionError);
  });

  it('finishes an in-flight handler before closing', async () => {
    let release: () => void = () => undefined;
    let finished = false;
    @Injectable()
    class SlowHandler {
      @MqConsumer({ topic: 'order.created', group: 'slow', startFrom: 'earliest' })
      async handle(): Promise<void> {
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        finished = true;
      }
    }
    const h = await start([SlowHandler]);
    await placeOrder(h, 'o-7', 1);
    const started = Date.now();
    while (Date.now() - started < 5000 && release.toString().includes('undefined')) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    setTimeout(() => release(), 100);
    await h.close();
    expect(finished).toBe(true);
  });

  it('retries a failure of one of several topics a group consumes in the handler of that topic', async () => {
    const calls: string[] = [];
    @Injectable()
    class OrderStatus {
      @MqConsumer({
        topic: 'payment.succeeded',
        group: 'order-status',
        startFrom: 'earliest',
        delayLevels: '10ms',
        prefetch: 4,
      })
      async paid(payload: { orderId: string }, ctx: MessageContext): Promise<void> {
        calls.push(`paid:${payload.orderId}:${ctx.attempt}`);
      }

      @MqConsumer({ topic: 'payment.failed', group: 'order-status', startFrom: 'earliest', delayLevels: '10ms' })
      async failed(payload: { orderId: string }, ctx: MessageContext): Promise<void> {
        calls.push(`failed:${payload.orderId}:${ctx.attempt}`);
        if (ctx.attempt === 0) throw new Error('database busy');
      }
    }
    const h = await start([OrderStatus]);
    await h.publisher.transaction(async (manager) => {
      await h.publisher.publish(
        [
          { topic: 'payment.failed', key: 'o-9', payload: { orderId: 'o-9' } },
          { topic: 'payment.succeeded', key: 'o-8', payload: { orderId: 'o-8' } },
        ],
        { manager },
      );
    });
    await waitForIdle(h.app);
    expect(calls.sort()).toEqual(['failed:o-9:0', 'failed:o-9:1', 'paid:o-8:0']);
  });

  it('keeps two applications in one process apart', async () => {
    const a = await start();
    const b = await start();
    await placeOrder(a, 'a-1', 1);
    await placeOrder(b, 'b-1', 2);
    await Promise.all([waitForIdle(a.app), waitForIdle(b.app)]);
    expect(a.handler.seen.map((s) => (s.payload as PaymentDto).orderId)).toEqual(['a-1']);
    expect(b.handler.seen.map((s) => (s.payload as PaymentDto).orderId)).toEqual(['b-1']);
  });
});

describe('ReliableMqModule.forRootAsync', () => {
  it('builds the module from injected providers and validates a schema-declared payload', async () => {
    const dataSource = await sqliteDataSource();
    const temp = temporaryEmbeddedTransport({ topics: ['order.created'] });
    cleanups.push(temp.cleanup);
    const seen: Array<{ orderId: string }> = [];
    const orderSchema = {
      parse(input: unknown): { orderId: string } {
        const value = input as { orderId?: unknown };
        if (typeof value?.orderId !== 'string') throw new Error('orderId must be a string');
        return { orderId: value.orderId };
      },
    };
    @Injectable()
    class SchemaHandler {
      @MqConsumer({ topic: 'order.created', group: 'schema-check', startFrom: 'earliest', schema: orderSchema })
      async handle(payload: { orderId: string }): Promise<void> {
        seen.push(payload);
      }
    }
    const DATA_SOURCE = Symbol('DATA_SOURCE');
    @Module({ providers: [{ provide: DATA_SOURCE, useValue: dataSource }], exports: [DATA_SOURCE] })
    class DatabaseModule {}
    const { app: moduleRef } = await startTestingModule(
      {
        imports: [
          ReliableMqModule.forRootAsync({
            imports: [DatabaseModule],
            inject: [DATA_SOURCE],
            useFactory: (ds: DataSource) => ({
              producerGroup: 'async-service',
              dataSource: ds,
              runMigrations: true,
              transport: temp.transport,
            }),
          }),
        ],
        providers: [SchemaHandler],
      },
      cleanups,
    );
    const publisher = moduleRef.get(ReliablePublisher);
    await publisher.transaction((manager) =>
      publisher.publish(
        [
          { topic: 'order.created', key: 'ok', payload: { orderId: 'ok' } },
          { topic: 'order.created', key: 'bad', payload: { orderId: 42 } },
        ],
        { manager },
      ),
    );
    await waitForIdle(moduleRef);
    expect(seen).toEqual([{ orderId: 'ok' }]);
    const letters = await moduleRef.get<Transport>(RELIABLE_MQ_TRANSPORT).deadLetters.list({ group: 'schema-check' });
    expect(letters.items.map((letter) => letter.reason)).toEqual([
      'NonRetryableError: Payload failed schema validation: orderId must be a string',
    ]);
  });

  it('fails at startup when the factory returns bad options', async () => {
    const moduleRef = Test.createTestingModule({
      imports: [ReliableMqModule.forRootAsync({ useFactory: () => ({ producerGroup: 'bad name!' }) as never })],
    });
    await expect(moduleRef.compile()).rejects.toThrow(/set `transport`/);
  });
});

describe('ReliableMqModule refuses what cannot work, at startup', () => {
  async function compile(options: unknown, providers: Array<new (...args: never[]) => object> = []): Promise<unknown> {
    const temp = temporaryEmbeddedTransport();
    cleanups.push(temp.cleanup);
    return startupErrorOf({ imports: [ReliableMqModule.forRoot(options as never)], providers }, cleanups);
  }

  it.each([
    [{ transport: { kind: 'embedded', dataDir: '/tmp/x' } }, /producerGroup/],
    [{ producerGroup: 'svc' }, /set `transport`/],
    [{ producerGroup: 'svc', transport: { kind: 'kafka' } }, /transport.kind "kafka" is not available/],
    [{ producerGroup: 'svc', transport: { kind: 'embedded' } }, /transport.dataDir/],
    [
      { producerGroup: 'svc', transport: { kind: 'embedded', dataDir: '/tmp/x' }, dedup: { store: 'db' } },
      /pass `dataSource`/,
    ],
    [
      { producerGroup: 'svc', transport: { kind: 'embedded', dataDir: '/tmp/x' }, dedup: { store: 'redis' } },
      /needs `url`/,
    ],
    [
      { producerGroup: 'svc', transport: { kind: 'embedded', dataDir: '/tmp/x' }, relay: { batchSize: 0 } },
      /relay.batchSize/,
    ],
  ])('options %j', async (options, message) => {
    const error = await compile(options);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(message);
  });

  it('two handlers for one (group, topic)', async () => {
    @Injectable()
    class First {
      @MqConsumer({ topic: 'order.created', group: 'dup' })
      async a(): Promise<void> {}
    }
    @Injectable()
    class Second {
      @MqConsumer({ topic: 'order.created', group: 'dup' })
      async b(): Promise<void> {}
    }
    const temp = temporaryEmbeddedTransport({ topics: ['order.created'] });
    cleanups.push(temp.cleanup);
    const error = await compile({ producerGroup: 'svc', transport: temp.transport }, [First, Second]);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(/First\.a and Second\.b/);
  });

  it('a handler in a request-scoped provider', async () => {
    @Injectable({ scope: Scope.REQUEST })
    class Scoped {
      @MqConsumer({ topic: 'order.created', group: 'scoped' })
      async a(): Promise<void> {}
    }
    @Module({ providers: [Scoped] })
    class ScopedModule {}
    const temp = temporaryEmbeddedTransport({ topics: ['order.created'] });
    cleanups.push(temp.cleanup);
    const error = await startupErrorOf(
      { imports: [ReliableMqModule.forRoot({ producerGroup: 'svc', transport: temp.transport }), ScopedModule] },
      cleanups,
    );
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(/Scoped\.a is in a request-scoped provider/);
  });
});
