import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { randomUUID } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { deleteRabbitMqObjects } from '../../../../test/support/rabbitmq-admin';
import { POSTGRES_URL, RABBITMQ_URL, describeWithService, uniqueName } from '../../../../test/support/services';
import { MARIADB_URL } from '../../../../test/support/services';
import { RELIABLE_MQ_TRANSPORT } from '../constants';
import { MqConsumer } from '../consuming/mq-consumer.decorator';
import type { MessageContext } from '../consuming/message-context.interface';
import { TestDatabase, type TestDatabaseKind } from '../../../../test/support/outbox-test-kit';
import { ReliablePublisher } from '../producing/reliable-publisher.service';
import type { LocalTransactionOutcome } from '../producing/transactional-send';
import { ReliableMqModule } from '../reliable-mq.module';
import { RabbitMqTransport } from '../transport/rabbitmq/rabbitmq.transport';
import { OutboxTransactionalOperations } from './outbox-transactional-operations';
import { TransactionChecker } from './transaction-checker.decorator';
import type { TransactionCheckContext } from './transaction-checker-options.interface';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(predicate: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!(await predicate())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

const GROUP = 'payment-service';
/** Set per test: a topic of its own. */
let PAYMENTS = '';

interface Payment {
  orderId: string;
  amount: number;
}

@Injectable()
class LocalState {
  readonly paid = new Set<string>();
  readonly failed = new Set<string>();
  readonly checks: TransactionCheckContext[] = [];

  @TransactionChecker()
  async check(payload: Payment, ctx: TransactionCheckContext): Promise<LocalTransactionOutcome> {
    this.checks.push(ctx);
    if (this.paid.has(payload.orderId)) return 'commit';
    return this.failed.has(payload.orderId) ? 'rollback' : 'unknown';
  }
}

@Injectable()
class Shipping {
  readonly seen: Array<{ payload: Payment; ctx: MessageContext }> = [];

  // The topic is resolved when the decorator runs: the spec sets PAYMENTS before it defines each app's class.
  static forTopic(topic: string): new () => Shipping {
    @Injectable()
    class TopicShipping extends Shipping {
      @MqConsumer({ topic, group: 'shipping', startFrom: 'earliest', delayLevels: '50ms' })
      async onPayment(payload: Payment, ctx: MessageContext): Promise<void> {
        this.seen.push({ payload, ctx });
      }
    }
    return TopicShipping;
  }
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface App {
  app: INestApplicationContext;
  publisher: ReliablePublisher;
  local: LocalState;
  shipping: Shipping;
  transactions: OutboxTransactionalOperations;
  dataSource: TestDatabase['dataSource'];
}

async function startApp(kind: TestDatabaseKind): Promise<App> {
  const db = await TestDatabase.create(kind, { postgres: POSTGRES_URL, mariadb: MARIADB_URL }, uniqueName('rmq_tx'));
  cleanups.push(() => db.dispose());
  PAYMENTS = `payment.confirmed.${randomUUID().slice(0, 8)}`;
  const ShippingType = Shipping.forTopic(PAYMENTS);
  const prefix = uniqueName('rmqx');
  const moduleRef = await Test.createTestingModule({
    imports: [
      ReliableMqModule.forRoot({
        producerGroup: GROUP,
        dataSource: db.dataSource,
        dedup: { store: 'memory' },
        relay: { sweepCron: '*/1 * * * * *', backoffBaseMs: 50, backoffMaxMs: 200 },
        transport: {
          kind: 'rabbitmq',
          url: RABBITMQ_URL,
          prefix,
          topics: [PAYMENTS],
          transactions: { transactionTimeoutMs: 200, checkIntervalMs: 200, transactionCheckMax: 3 },
        },
      }),
    ],
    providers: [LocalState, ShippingType],
  }).compile();
  await moduleRef.init();
  const transport = moduleRef.get<RabbitMqTransport>(RELIABLE_MQ_TRANSPORT);
  cleanups.push(async () => {
    await moduleRef.close();
    await deleteRabbitMqObjects(transport.declaredTopology());
  });
  return {
    app: moduleRef,
    publisher: moduleRef.get(ReliablePublisher),
    local: moduleRef.get(LocalState),
    shipping: moduleRef.get(ShippingType),
    transactions: transport.transactions as OutboxTransactionalOperations,
    dataSource: db.dataSource,
  };
}

const payment = (orderId: string, amount = 10) => ({ topic: PAYMENTS, key: orderId, payload: { orderId, amount } });

function suite(kind: TestDatabaseKind): void {
  it('commit: the half record is durable before the local transaction; the message is delivered once, after it', async () => {
    const h = await startApp(kind);
    let duringLocal: unknown;
    const result = await h.publisher.sendInTransaction(payment('o-1', 25), async ({ txId, messageId }) => {
      duringLocal = await h.transactions.get(txId);
      expect(duringLocal).toMatchObject({ messageId, state: 'unresolved', producerGroup: GROUP, topic: PAYMENTS });
      await sleep(100);
      expect(h.shipping.seen).toHaveLength(0);
      return 'commit';
    });
    expect(result).toMatchObject({ outcome: 'commit', settled: true });
    await until(() => h.shipping.seen.length === 1, 'the committed message');
    expect(h.shipping.seen[0]!.payload).toEqual({ orderId: 'o-1', amount: 25 });
    expect(h.shipping.seen[0]!.ctx).toMatchObject({ id: result.messageId, key: 'o-1' });
    expect(await h.transactions.get(result.txId)).toMatchObject({ state: 'committed', resolvedBy: 'producer' });
    // Commit is idempotent; a rollback after it is refused.
    await h.transactions.commit(result.txId);
    await expect(h.transactions.rollback(result.txId)).rejects.toThrow(/already committed/);
    await sleep(400);
    expect(h.shipping.seen).toHaveLength(1);
    expect(h.local.checks).toEqual([]);
  });

  it('rollback: nothing is delivered, the record stays for audit', async () => {
    const h = await startApp(kind);
    const result = await h.publisher.sendInTransaction(payment('o-2'), async () => 'rollback');
    expect(result).toMatchObject({ outcome: 'rollback', settled: true });
    await sleep(600);
    expect(h.shipping.seen).toEqual([]);
    expect(await h.transactions.get(result.txId)).toMatchObject({ state: 'rolled_back', resolvedBy: 'producer' });
    await expect(h.transactions.commit(result.txId)).rejects.toThrow(/already rolled back/);
  });

  it('unknown: the checker is asked from the database record and its commit delivers the message once', async () => {
    const h = await startApp(kind);
    const result = await h.publisher.sendInTransaction(payment('o-3'), async () => {
      h.local.paid.add('o-3');
      return 'unknown';
    });
    expect(result).toMatchObject({ outcome: 'unknown', settled: false });
    await until(() => h.shipping.seen.length === 1, 'the message committed by checkback');
    expect(h.local.checks[0]).toMatchObject({
      txId: result.txId,
      messageId: result.messageId,
      producerGroup: GROUP,
      checkCount: 1,
    });
    expect(await h.transactions.get(result.txId)).toMatchObject({ state: 'committed', resolvedBy: 'checkback' });
    await sleep(400);
    expect(h.shipping.seen).toHaveLength(1);
  });

  it('a local transaction that throws: the checker rolls back and nothing is delivered', async () => {
    const h = await startApp(kind);
    const result = await h.publisher.sendInTransaction(payment('o-4'), async () => {
      h.local.failed.add('o-4');
      throw new Error('card declined');
    });
    expect(result.outcome).toBe('unknown');
    await until(async () => (await h.transactions.get(result.txId))?.state === 'rolled_back', 'the checkback rollback');
    await sleep(300);
    expect(h.shipping.seen).toEqual([]);
  });

  it('without an answer it is discarded after the last check; an operator then commits it, once', async () => {
    const h = await startApp(kind);
    const sent = await h.transactions.sendHalf(
      {
        id: randomUUID(),
        topic: PAYMENTS,
        key: 'o-5',
        headers: { trace: 't' },
        body: Buffer.from('{"orderId":"o-5","amount":5}'),
      },
      'nobody-here',
    );
    await until(
      async () => (await h.transactions.listDiscarded({ producerGroup: 'nobody-here' })).total === 1,
      'the discard',
      15_000,
    );
    const [discarded] = (await h.transactions.listDiscarded({ id: sent.txId })).items;
    expect(discarded).toMatchObject({
      checkCount: 3,
      reason: expect.stringMatching(/No answer after 3 checks; last check: no checker is registered/),
    });
    expect((await h.transactions.listUnresolved({ producerGroup: 'nobody-here' })).total).toBe(0);
    await expect(h.transactions.discardDiscarded([sent.txId], '')).rejects.toThrow(/non-empty reason/);
    expect(await h.transactions.commitDiscarded([sent.txId])).toEqual([sent.txId]);
    await until(() => h.shipping.seen.length === 1, 'the operator commit');
    expect(h.shipping.seen[0]!.ctx.headers).toMatchObject({ trace: 't' });
    await expect(h.transactions.commitDiscarded([sent.txId])).rejects.toThrow(
      /Cannot commit a discarded half message .*already committed/,
    );
    // Re-sending the same message id returns the first record.
    const again = await h.transactions.sendHalf(
      { id: discarded!.messageId, topic: PAYMENTS, headers: {}, body: Buffer.from('{}') },
      'nobody-here',
    );
    expect(again).toEqual({ txId: sent.txId, id: discarded!.messageId, duplicate: true });
  });

  it('a producer commit racing a checkback answer delivers once', async () => {
    const h = await startApp(kind);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, index) =>
        h.publisher.sendInTransaction(payment(`race-${index}`), async () => {
          h.local.paid.add(`race-${index}`);
          // Long enough for a checkback to be asked while the producer has not committed yet.
          await sleep(250 + (index % 3) * 40);
          return 'commit';
        }),
      ),
    );
    await until(() => h.shipping.seen.length >= 10, 'ten deliveries');
    await sleep(500);
    expect(new Set(h.shipping.seen.map((seen) => seen.ctx.id)).size).toBe(10);
    expect(h.shipping.seen).toHaveLength(10);
    for (const result of results) expect((await h.transactions.get(result.txId))?.state).toBe('committed');
  });

  it('prunes resolved records older than the retention; unresolved and recent ones stay', async () => {
    const h = await startApp(kind);
    const ids: string[] = [];
    for (const [orderId, outcome] of [
      ['p-old-commit', 'commit'],
      ['p-old-rollback', 'rollback'],
      ['p-old-discard', 'rollback'],
      ['p-recent', 'commit'],
      ['p-unresolved', 'rollback'],
    ] as const) {
      const sent = await h.publisher.sendInTransaction(payment(orderId), async () => outcome);
      ids.push(sent.txId);
    }
    const p = (index: number): string => (kind === 'postgres' ? `$${index}` : '?');
    const set = (sql: string, params: unknown[]) => h.dataSource.query(`UPDATE rmq_half_message SET ${sql}`, params);
    const eightDaysAgo = Date.now() - 8 * 24 * 3_600_000;
    await set(`resolved_at = ${p(1)} WHERE tx_id IN (${p(2)}, ${p(3)})`, [eightDaysAgo, ids[0], ids[1]]);
    await set(`state = 'discarded', resolved_at = ${p(1)} WHERE tx_id = ${p(2)}`, [eightDaysAgo, ids[2]]);
    // An unresolved record, however old, is never pruned (its next check far away, so no checkback moves it).
    await set(
      `state = 'unresolved', resolved_at = NULL, sent_at = ${p(1)}, next_check_at = ${p(2)} WHERE tx_id = ${p(3)}`,
      [eightDaysAgo, Date.now() + 3_600_000, ids[4]],
    );

    await expect(h.transactions.pruneResolved()).resolves.toBe(3);
    for (const gone of ids.slice(0, 3)) expect(await h.transactions.get(gone)).toBeUndefined();
    expect((await h.transactions.get(ids[3]!))?.state).toBe('committed');
    expect((await h.transactions.get(ids[4]!))?.state).toBe('unresolved');
    // A late commit of a pruned record is refused like an unknown id.
    await expect(h.transactions.commit(ids[0]!)).rejects.toThrow();
  });

  it('refuses a topic RabbitMQ does not know, before anything is stored', async () => {
    const h = await startApp(kind);
    let ran = false;
    await expect(
      h.publisher.sendInTransaction({ topic: 'nobody.declared.this', payload: {} }, async () => {
        ran = true;
        return 'commit';
      }),
    ).rejects.toThrow(/Topic "nobody.declared.this" does not exist/);
    expect(ran).toBe(false);
  });
}

describeWithService(['rabbitmq', 'postgres'], 'transactional messages on RabbitMQ, kept in PostgreSQL', () => {
  suite('postgres');
});
describeWithService('rabbitmq', 'transactional messages on RabbitMQ, kept in SQLite', () => {
  suite('sqlite');
});
describeWithService(['rabbitmq', 'mariadb'], 'transactional messages on RabbitMQ, kept in MariaDB', () => {
  suite('mariadb');
});
