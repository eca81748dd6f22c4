/**
 * The producer application of the remote-broker crash test: `node remote-broker-crash.producer.ts '<ProducerConfig>'`.
 *
 * A Nest application context with ReliableMqModule on the remote transport and an outbox in its own SQLite file. In a
 * loop it commits an `orders` row and its `order.created` outbox row in one transaction (every n-th one is rolled back
 * on purpose); the relay sends them to the broker, which the test SIGKILLs again and again. On `stop` it stops taking
 * orders, waits until the relay has every committed row confirmed, closes cleanly and reports.
 */
import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { randomUUID } from 'node:crypto';
import { OUTBOX_TABLE, OutboxRelayService, ReliableMqModule, ReliablePublisher } from '@reliable-mq/nestjs';
import {
  emitLine,
  ORDER_TOPIC,
  ORDER_TOPIC_QUEUES,
  PRODUCER_GROUP,
  stderrLogger,
  waitForCommand,
  type ProducerConfig,
} from './remote-broker-crash.protocol';
import { openChildDatabase } from './remote-broker-crash.database';

class PlannedRollback extends Error {}
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as ProducerConfig;
  const dataSource = await openChildDatabase(config.databaseFile);
  await dataSource.query('CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL)');

  @Module({
    imports: [
      ReliableMqModule.forRoot({
        producerGroup: PRODUCER_GROUP,
        dataSource,
        runMigrations: true,
        transport: {
          kind: 'remote',
          url: config.brokerUrl,
          token: config.token,
          topics: [{ name: ORDER_TOPIC, queueCount: ORDER_TOPIC_QUEUES }],
          reconnectDelayMs: 50,
          reconnectMaxDelayMs: 500,
          requestTimeoutMs: '10s',
        },
        // Short backoff: the broker is away for well under a second each time. Enough attempts never to give up.
        relay: {
          sweepCron: '*/1 * * * * *',
          backoffBaseMs: '50ms',
          backoffMaxMs: '1s',
          maxAttempts: 1000,
          leaseMs: '5s',
        },
      }),
    ],
  })
  class ProducerModule {}

  const app = await NestFactory.createApplicationContext(ProducerModule, { logger: stderrLogger, abortOnError: false });
  await app.init();
  const publisher = app.get(ReliablePublisher);
  const relay = app.get(OutboxRelayService);
  emitLine({ kind: 'ready' });

  let stop = false;
  const stopped = waitForCommand('stop').then(() => (stop = true));
  const runTag = randomUUID().slice(0, 8);
  const stopAt = Date.now() + config.maxRunMs;
  let committed = 0;
  let rolledBack = 0;
  let failed = 0;
  for (let seq = 0; !stop && Date.now() < stopAt; seq++) {
    const orderId = `o-${runTag}-${seq}`;
    const rollback = seq % config.rollbackEvery === config.rollbackEvery - 1;
    try {
      await publisher.transaction(async (manager) => {
        await manager.query('INSERT INTO orders (id, created_at) VALUES (?, ?)', [orderId, Date.now()]);
        await publisher.publish({ topic: ORDER_TOPIC, key: orderId, payload: { orderId } }, { manager });
        if (rollback) throw new PlannedRollback(orderId);
      });
      committed++;
    } catch (error) {
      if (error instanceof PlannedRollback) rolledBack++;
      else failed++;
    }
    if (seq % 50 === 0) emitLine({ kind: 'progress', committed, rolledBack, failed });
    await sleep(2);
  }
  await stopped;

  const pendingRows = async (): Promise<number> =>
    Number(
      (
        (await dataSource.query(`SELECT COUNT(*) AS n FROM ${OUTBOX_TABLE} WHERE status != 'sent'`)) as Array<{
          n: number;
        }>
      )[0]!.n,
    );
  const drainUntil = Date.now() + config.drainLimitMs;
  let pending = await pendingRows();
  while (pending > 0 && Date.now() < drainUntil) {
    relay.wake();
    await sleep(100);
    pending = await pendingRows();
  }
  const metrics = relay.metrics();
  await app.close();
  await dataSource.destroy();
  emitLine({
    kind: 'drained',
    committed,
    rolledBack,
    pending,
    relay: metrics ? { sent: metrics.sent, failed: metrics.failed, dead: metrics.dead } : null,
  });
  process.exit(0);
}

main().catch((error: unknown) => {
  emitLine({ kind: 'error', message: String((error as Error)?.stack ?? error) });
  process.exit(2);
});
