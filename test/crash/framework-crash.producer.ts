/**
 * The producer of the framework crash test: `node framework-crash.producer.ts '<ProducerConfig JSON>'`.
 *
 * Plain TypeORM plus a ReliablePublisher, with no relay: it only writes. In a loop it commits an `orders` row and its
 * `order.created` outbox row in one transaction, and every few transactions throws after publishing so that both roll
 * back. Each outcome is reported (see framework-crash.protocol.ts) only after `transaction()` has returned. It stops
 * when a line arrives on stdin (or stdin closes), or at its own bounds, and exits 0 after a clean shutdown.
 */
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { EmbeddedTransport, ReliablePublisher } from '@reliable-mq/nestjs';
import { appTables, emitLine, ORDER_TOPIC, PRODUCER_GROUP, type ProducerConfig } from './framework-crash.protocol';

class PlannedRollback extends Error {}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as ProducerConfig;
  const { orders } = appTables(config.schema);
  const dataSource = new DataSource({ type: 'postgres', url: config.postgresUrl, schema: config.schema, poolSize: 4 });
  await dataSource.initialize();
  // The producer never sends directly (`send()`), so its transport is never connected: a stray send would fail.
  const transport = new EmbeddedTransport({
    kind: 'embedded',
    dataDir: join(tmpdir(), 'rmq-unused-producer-transport'),
  });
  const publisher = new ReliablePublisher({ dataSource, transport, producerGroup: PRODUCER_GROUP });

  let stop = false;
  process.stdin.on('data', () => (stop = true));
  process.stdin.on('end', () => (stop = true));
  process.stdin.resume();

  emitLine({ kind: 'ready', pid: process.pid });
  const runTag = randomUUID().slice(0, 8);
  const stopAt = Date.now() + config.maxRunMs;
  let committed = 0;
  let rolledBack = 0;
  let inDoubt = 0;
  for (let seq = 0; !stop && seq < config.maxOrders && Date.now() < stopAt; seq++) {
    const orderId = `o-${runTag}-${seq}`;
    const rollback = seq % config.rollbackEvery === config.rollbackEvery - 1;
    try {
      const messageId = await publisher.transaction(async (manager) => {
        await manager.query(`INSERT INTO ${orders} (id, created_at) VALUES ($1, $2)`, [orderId, Date.now()]);
        const id = await publisher.publish({ topic: ORDER_TOPIC, key: orderId, payload: { orderId } }, { manager });
        if (rollback) throw new PlannedRollback(`order ${orderId} is rolled back on purpose`);
        return id;
      });
      committed++;
      emitLine({ kind: 'committed', orderId, messageId });
    } catch (error) {
      if (error instanceof PlannedRollback) {
        rolledBack++;
        emitLine({ kind: 'rolled-back', orderId });
      } else {
        inDoubt++;
        emitLine({ kind: 'in-doubt', orderId, error: String((error as Error)?.stack ?? error) });
      }
    }
    await sleep(Math.floor(Math.random() * (config.maxPauseMs + 1)));
  }
  publisher.close();
  await dataSource.destroy();
  emitLine({ kind: 'done', committed, rolledBack, inDoubt });
  process.exit(0);
}

main().catch((error: unknown) => {
  emitLine({ kind: 'error', message: String((error as Error)?.stack ?? error) });
  process.exit(2);
});
