import { Inject, Injectable, Module, type DynamicModule, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { MqConsumer, ReliableMqModule, ReliablePublisher } from '@reliable-mq/nestjs';
import { BenchOrder, openSqliteDatabase, orderRow, type BenchDatabase } from '../lib/databases';
import { HandlerProbe } from '../lib/end-to-end';
import { orderPayload } from '../lib/temp';

/**
 * The application of scenario 12 and of its instruction count: the framework's whole path in one Nest application.
 * Each message is a business transaction on SQLite (WAL, FULL) writing an order row and its outbox row, sent by the
 * relay to the embedded engine (sync flush) and handled by an `@MqConsumer` with memory dedup. It imports nothing of
 * OpenTelemetry itself, so that a process can run it with the API made unresolvable.
 */
export const OBSERVED_TOPIC = 'order.created';
const PROBE = 'BENCH_TELEMETRY_PROBE';

@Injectable()
class ObservedHandler {
  constructor(@Inject(PROBE) private readonly probe: HandlerProbe) {}

  @MqConsumer({
    topic: OBSERVED_TOPIC,
    group: 'bench-observed',
    dedupKey: (payload: { orderId: string }) => payload.orderId,
  })
  async charge(payload: { sentAt: number }): Promise<void> {
    this.probe.handled(payload.sentAt);
  }
}

@Module({})
class ObservedAppModule {
  static with(options: { db: BenchDatabase; dataDir: string; probe: HandlerProbe }): DynamicModule {
    return {
      module: ObservedAppModule,
      imports: [
        ReliableMqModule.forRoot({
          producerGroup: 'bench-observed-orders',
          dataSource: options.db.dataSource,
          transport: { kind: 'embedded', dataDir: options.dataDir, flush: 'sync', topics: [OBSERVED_TOPIC] },
          dedup: { store: 'memory' },
          consumers: { startFrom: 'earliest' },
        }),
      ],
      providers: [{ provide: PROBE, useValue: options.probe }, ObservedHandler],
    };
  }
}

export interface ObservedApp {
  readonly probe: HandlerProbe;
  readonly publisher: ReliablePublisher;
  /** One order in its business transaction, with its event published into the outbox; `id` must be unique. */
  order(id: string, sentAt: number): Promise<void>;
  close(): Promise<void>;
}

/** Opens the database in `dir` and starts the application; `close` stops both (the directory stays). */
export async function openObservedApp(dir: string): Promise<ObservedApp> {
  const db = await openSqliteDatabase(dir);
  let app: INestApplicationContext | undefined;
  try {
    const probe = new HandlerProbe();
    app = await NestFactory.createApplicationContext(ObservedAppModule.with({ db, dataDir: `${dir}/broker`, probe }), {
      logger: ['error'],
    });
    await app.init();
    const publisher = app.get(ReliablePublisher);
    const opened = app;
    return {
      probe,
      publisher,
      order: (id, sentAt) =>
        publisher.transaction(async (manager) => {
          await manager.insert(BenchOrder, orderRow(id));
          await publisher.publish({ topic: OBSERVED_TOPIC, key: id, payload: orderPayload(id, sentAt) }, { manager });
        }),
      close: async () => {
        await opened.close();
        await db.dispose();
      },
    };
  } catch (error) {
    await app?.close().catch(() => undefined);
    await db.dispose().catch(() => undefined);
    throw error;
  }
}
