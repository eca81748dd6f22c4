/**
 * The consumer application of the framework crash test: `node framework-crash.consumer.ts '<ConsumerConfig JSON>'`.
 *
 * A Nest application context with ReliableMqModule on the embedded broker (its data directory is shared by every run,
 * `flush: 'sync'`), the outbox relay enabled (it drains what the producer process commits), and one @MqConsumer on
 * `order.created` that writes an `effects` row per order, deduplicated on the order id:
 *
 * - variant `db`: with the `db` dedup store, the effect goes through `ctx.manager`, the transaction holding the inbox row;
 * - variant `redis`: with the `redis` dedup store, the effect is committed in the app's own transaction.
 *
 * `crash` runs until the parent SIGKILLs them. `drain` waits until everything is handled (no outbox row pending, the
 * broker idle), closes the app cleanly and exits 0.
 */
import 'reflect-metadata';
import { Inject, Injectable, Module, type LoggerService, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { DataSource } from 'typeorm';
import {
  ConsumerRunner,
  MqConsumer,
  OutboxRelayService,
  RELIABLE_MQ_DEDUP_STORE,
  ReliableMqModule,
  type DedupOptions,
  type DedupStore,
  type MessageContext,
} from '@reliable-mq/nestjs';
// The testing barrel also exports the contract suites, which import vitest; a plain child process takes the harness alone.
import { waitForIdle } from '@reliable-mq/nestjs/testing';
import {
  appTables,
  CONSUMER_GROUP,
  CONSUMER_PREFETCH,
  consumerApplicationName,
  emitLine,
  ORDER_TOPIC,
  ORDER_TOPIC_QUEUES,
  PRODUCER_GROUP,
  type ConsumerConfig,
  type CountersView,
} from './framework-crash.protocol';

const CONFIG = Symbol('FrameworkCrashConfig');
const APP_DATA_SOURCE = Symbol('AppDataSource');
const COUNTERS_INTERVAL_MS = 25;
/** A crash run is meant to be SIGKILLed; one the parent forgot ends here on its own. */
const CRASH_RUN_LIMIT_MS = 60_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface OrderCreated {
  orderId: string;
}

@Injectable()
class EffectsHandler {
  private readonly effects: string;

  constructor(
    @Inject(CONFIG) private readonly config: ConsumerConfig,
    @Inject(APP_DATA_SOURCE) private readonly dataSource: DataSource,
  ) {
    this.effects = appTables(config.schema).effects;
  }

  @MqConsumer<OrderCreated>({
    topic: ORDER_TOPIC,
    group: CONSUMER_GROUP,
    dedupKey: (payload) => payload.orderId,
    startFrom: 'earliest',
  })
  async onOrderCreated(payload: OrderCreated, ctx: MessageContext): Promise<void> {
    emitLine({ kind: 'invoked', orderId: payload.orderId, messageId: ctx.id, attempt: ctx.attempt });
    const insert = `INSERT INTO ${this.effects} (order_id, message_id, run, written_at) VALUES ($1, $2, $3, $4)`;
    const values = [payload.orderId, ctx.id, this.config.run, Date.now()];
    if (this.config.variant === 'db') {
      // The inbox row and the effect commit together, or not at all.
      if (!ctx.manager) throw new Error('the db dedup store handed the handler no transaction');
      await ctx.manager.query(insert, values);
    } else {
      // Redis dedup cannot share the database transaction: the effect commits here, DONE is recorded after return.
      await this.dataSource.transaction((manager) => manager.query(insert, values));
    }
    emitLine({ kind: 'effect', orderId: payload.orderId });
    // Widens the window between the effect and what follows it (the inbox commit, or recording DONE), so kills land in it.
    await sleep(Math.floor(Math.random() * 11));
    emitLine({ kind: 'returning', orderId: payload.orderId });
  }
}

/** Nest's console logger writes to stdout, which carries the protocol; warnings and errors travel as lines instead. */
class ProtocolLogger implements LoggerService {
  log(): void {}
  debug(): void {}
  verbose(): void {}
  warn(message: unknown, context?: string): void {
    emitLine({ kind: 'log', level: 'warn', context: context ?? '', message: String(message) });
  }
  error(message: unknown, ...rest: unknown[]): void {
    const context = rest.length > 0 ? String(rest[rest.length - 1]) : '';
    emitLine({
      kind: 'log',
      level: 'error',
      context,
      message: `${String(message)} ${rest.slice(0, -1).join(' ')}`.trim(),
    });
  }
  fatal(message: unknown, ...rest: unknown[]): void {
    this.error(message, ...rest);
  }
}

function dedupOptions(config: ConsumerConfig): DedupOptions {
  return config.variant === 'db'
    ? { store: 'db' }
    : { store: 'redis', url: config.redisUrl, keyPrefix: config.redisKeyPrefix, processingTtlMs: '2s' };
}

function appModule(config: ConsumerConfig, dataSource: DataSource): Type {
  @Module({
    imports: [
      ReliableMqModule.forRoot({
        producerGroup: PRODUCER_GROUP,
        dataSource,
        transport: {
          kind: 'embedded',
          dataDir: config.dataDir,
          flush: 'sync',
          topics: [{ name: ORDER_TOPIC, queueCount: ORDER_TOPIC_QUEUES }],
        },
        // A killed relay's leases pass to the next run after 2 s instead of the default 30 s.
        relay: { sweepCron: '*/1 * * * * *', leaseMs: '2s', backoffBaseMs: '200ms', backoffMaxMs: '2s' },
        dedup: dedupOptions(config),
        // Retries (a busy Redis key waits for its 2 s PROCESSING claim to expire) come back within seconds; the default
        // 16 attempts stay in force, so a message that kept failing would reach the DLQ, which the spec checks is empty.
        consumers: { prefetch: CONSUMER_PREFETCH, delayLevels: '250ms 500ms 1s 1s 2s' },
        shutdownTimeoutMs: 10_000,
      }),
    ],
    providers: [
      { provide: CONFIG, useValue: config },
      { provide: APP_DATA_SOURCE, useValue: dataSource },
      EffectsHandler,
    ],
  })
  class ConsumerAppModule {}
  return ConsumerAppModule;
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as ConsumerConfig;
  emitLine({ kind: 'starting', run: config.run, pid: process.pid });
  const dataSource = new DataSource({
    type: 'postgres',
    url: config.postgresUrl,
    schema: config.schema,
    poolSize: 12,
    applicationName: consumerApplicationName(config.schema, config.run),
  });
  await dataSource.initialize();
  const app = await NestFactory.createApplicationContext(appModule(config, dataSource), {
    logger: new ProtocolLogger(),
    abortOnError: false,
  });
  await app.init();
  const runner = app.get(ConsumerRunner);
  const relay = app.get(OutboxRelayService);
  const dedup = app.get<DedupStore>(RELIABLE_MQ_DEDUP_STORE);
  const counters = (): CountersView => {
    const handler = runner.countersFor(CONSUMER_GROUP, ORDER_TOPIC);
    const store = dedup.counters;
    const sent = relay.metrics();
    return {
      ...handler,
      dedupProcessed: store.processed,
      dedupDuplicates: store.duplicates,
      dedupBusy: store.busy,
      relayClaimed: sent?.claimed ?? 0,
      relaySent: sent?.sent ?? 0,
      relayFenced: sent?.fenced ?? 0,
    };
  };
  let last = '';
  const report = (): void => {
    const view = counters();
    const text = JSON.stringify(view);
    if (text === last) return;
    last = text;
    emitLine({ kind: 'counters', counters: view });
  };
  const timer = setInterval(report, COUNTERS_INTERVAL_MS);
  emitLine({ kind: 'ready', run: config.run });
  if (config.mode === 'crash') {
    setTimeout(() => {
      emitLine({ kind: 'error', message: `crash run ${config.run} was not killed within ${CRASH_RUN_LIMIT_MS} ms` });
      process.exit(5);
    }, CRASH_RUN_LIMIT_MS).unref();
    return;
  }

  await waitForIdle(app, { timeoutMs: config.drainLimitMs, settleChecks: 10, intervalMs: 100 });
  clearInterval(timer);
  report();
  await app.close();
  await dataSource.destroy();
  emitLine({ kind: 'drained', counters: counters() });
  process.exit(0);
}

main().catch((error: unknown) => {
  emitLine({ kind: 'error', message: String((error as Error)?.stack ?? error) });
  process.exit(2);
});
