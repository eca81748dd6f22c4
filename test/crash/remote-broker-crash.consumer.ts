/**
 * The consumer application of the remote-broker crash test: `node remote-broker-crash.consumer.ts '<ConsumerConfig>'`.
 *
 * A Nest application context with ReliableMqModule on the remote transport and one @MqConsumer on `order.created`
 * that writes an `effects` row per order through `ctx.manager`: the `db` dedup store commits it with the inbox row
 * keyed on the order id, so a redelivery (after the broker lost a connection with messages in flight) finds the order
 * done. On `drain <n>` it waits until it has n effects, closes cleanly and reports.
 */
import 'reflect-metadata';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ConsumerRunner, MqConsumer, ReliableMqModule, type MessageContext } from '@reliable-mq/nestjs';
import {
  CONSUMER_GROUP,
  emitLine,
  ORDER_TOPIC,
  ORDER_TOPIC_QUEUES,
  stderrLogger,
  waitForCommand,
  type ConsumerConfig,
} from './remote-broker-crash.protocol';
import { openChildDatabase } from './remote-broker-crash.database';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

@Injectable()
class Shipping {
  @MqConsumer<{ orderId: string }>({
    topic: ORDER_TOPIC,
    group: CONSUMER_GROUP,
    dedupKey: (payload) => payload.orderId,
    startFrom: 'earliest',
  })
  async onOrderCreated(payload: { orderId: string }, ctx: MessageContext): Promise<void> {
    if (!ctx.manager) throw new Error('the db dedup store handed the handler no transaction');
    await ctx.manager.query('INSERT INTO effects (order_id, message_id, written_at) VALUES (?, ?, ?)', [
      payload.orderId,
      ctx.id,
      Date.now(),
    ]);
  }
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as ConsumerConfig;
  const dataSource = await openChildDatabase(config.databaseFile);
  // No uniqueness on order_id on purpose: a duplicate effect must be visible to the test, not refused here.
  await dataSource.query(
    'CREATE TABLE IF NOT EXISTS effects (order_id TEXT NOT NULL, message_id TEXT NOT NULL, written_at INTEGER NOT NULL)',
  );

  @Module({
    imports: [
      ReliableMqModule.forRoot({
        producerGroup: 'shipping-service',
        dataSource,
        runMigrations: true,
        dedup: { store: 'db' },
        transport: {
          kind: 'remote',
          url: config.brokerUrl,
          token: config.token,
          topics: [{ name: ORDER_TOPIC, queueCount: ORDER_TOPIC_QUEUES }],
          reconnectDelayMs: 50,
          reconnectMaxDelayMs: 500,
        },
        relay: { enabled: false },
        consumers: { prefetch: 16, delayLevels: '100ms 200ms 500ms 1s 1s' },
      }),
    ],
    providers: [Shipping],
  })
  class ConsumerModule {}

  const app = await NestFactory.createApplicationContext(ConsumerModule, { logger: stderrLogger, abortOnError: false });
  await app.init();
  const runner = app.get(ConsumerRunner);
  const effects = async (): Promise<number> =>
    Number(((await dataSource.query('SELECT COUNT(*) AS n FROM effects')) as Array<{ n: number }>)[0]!.n);
  emitLine({ kind: 'ready' });

  const command = await waitForCommand('drain');
  const expected = Number(command.split(' ')[1] ?? 0);
  const until = Date.now() + config.drainLimitMs;
  let count = await effects();
  while (count < expected && Date.now() < until) {
    await sleep(100);
    count = await effects();
  }
  // A little longer, so a duplicate that would still come is seen too.
  await sleep(500);
  count = await effects();
  const counters = runner.countersFor(CONSUMER_GROUP, ORDER_TOPIC);
  await app.close();
  await dataSource.destroy();
  emitLine({
    kind: 'drained',
    handled: counters.handled,
    duplicates: counters.duplicates,
    failedHandlers: counters.failed,
    effects: count,
  });
  process.exit(0);
}

main().catch((error: unknown) => {
  emitLine({ kind: 'error', message: String((error as Error)?.stack ?? error) });
  process.exit(2);
});
