import { Injectable, Module, Scope, type INestApplicationContext } from '@nestjs/common';
import { BrokerEngine } from '@reliable-mq/engine';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ConfigurationError,
  InvalidMessageError,
  MqConsumer,
  RELIABLE_MQ_TRANSPORT,
  ReliableMqModule,
  ReliablePublisher,
  TransactionChecker,
  TransactionCheckerRegistry,
  type LocalTransaction,
  type LocalTransactionOutcome,
  type MessageContext,
  type TransactionCheckContext,
  type Transport,
} from '@reliable-mq/nestjs';
import { cleanupAfterEach, startTestingModule, startupErrorOf } from '../../test/testing-module';
import type { DiscoveredChecker, TransactionCheckerExplorer } from './transaction-checker-explorer.service';

const PAYMENTS = 'payment.confirmed';
const REFUNDS = 'refund.issued';
const GROUP = 'payment-service';
/** Fast checkbacks; the defaults (6 s, then every 30 s) would make these tests slow. */
const FAST = { transactionTimeoutMs: 200, checkIntervalMs: 200, transactionCheckMax: 15 } as const;
const SETTLE_MS = 300;

interface Payment {
  orderId: string;
  amount: number;
}

/** The producer's local state: the payments it has recorded, and the ones it knows failed. */
@Injectable()
class LocalPayments {
  readonly paid = new Set<string>();
  readonly failed = new Set<string>();
  readonly checks: Array<{ payload: Payment; ctx: TransactionCheckContext }> = [];

  @TransactionChecker({ topic: PAYMENTS })
  async check(payload: Payment, ctx: TransactionCheckContext): Promise<LocalTransactionOutcome> {
    this.checks.push({ payload, ctx });
    if (this.paid.has(payload.orderId)) return 'commit';
    return this.failed.has(payload.orderId) ? 'rollback' : 'unknown';
  }
}

/** Answers for every other topic of the group. */
@Injectable()
class EverythingElse {
  readonly asked: string[] = [];

  @TransactionChecker()
  check(_payload: unknown, ctx: TransactionCheckContext): LocalTransactionOutcome {
    this.asked.push(ctx.topic);
    return 'commit';
  }
}

@Injectable()
class Shipping {
  readonly seen: Array<{ payload: Payment; ctx: MessageContext }> = [];

  @MqConsumer<Payment>({ topic: PAYMENTS, group: 'shipping', startFrom: 'earliest' })
  async onPayment(payload: Payment, ctx: MessageContext): Promise<void> {
    this.seen.push({ payload, ctx });
  }

  @MqConsumer({ topic: REFUNDS, group: 'shipping', startFrom: 'earliest' })
  async onRefund(payload: Payment, ctx: MessageContext): Promise<void> {
    this.seen.push({ payload, ctx });
  }
}

const cleanups = cleanupAfterEach();

async function until(predicate: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Broker {
  engine: BrokerEngine;
  warnings: string[];
}

/** One engine opened by the test and shared by the apps, so several instances of a producer group can run. */
function openBroker(): Broker {
  const dir = mkdtempSync(join(tmpdir(), 'rmq-tx-module-'));
  const warnings: string[] = [];
  const errors: Error[] = [];
  const engine = BrokerEngine.open({
    dataDir: dir,
    flush: 'async',
    minFreeDiskBytes: 0,
    ...FAST,
    onWarning: (message) => warnings.push(message),
    onError: (error) => errors.push(error),
  });
  engine.createTopic(PAYMENTS, { queueCount: 2 });
  engine.createTopic(REFUNDS, { queueCount: 1 });
  cleanups.push(async () => {
    await engine.close(1000);
    rmSync(dir, { recursive: true, force: true });
    expect(errors).toEqual([]);
  });
  return { engine, warnings };
}

interface App {
  app: INestApplicationContext;
  publisher: ReliablePublisher;
  local: LocalPayments;
  shipping: Shipping;
  close(): Promise<void>;
}

async function startApp(
  broker: Broker,
  providers: Array<new (...args: never[]) => object> = [LocalPayments, Shipping],
): Promise<App> {
  const { app: moduleRef, close } = await startTestingModule(
    {
      imports: [
        ReliableMqModule.forRoot({
          producerGroup: GROUP,
          transport: { kind: 'embedded', sharedEngine: broker.engine },
        }),
      ],
      providers,
    },
    cleanups,
  );
  const get = <T>(type: new (...args: never[]) => T): T =>
    providers.includes(type as never) ? moduleRef.get(type) : (undefined as T);
  return {
    app: moduleRef,
    publisher: moduleRef.get(ReliablePublisher),
    local: get(LocalPayments),
    shipping: get(Shipping),
    close,
  };
}

const payment = (orderId: string, amount = 10) => ({ topic: PAYMENTS, key: orderId, payload: { orderId, amount } });

describe('sendInTransaction through a Nest application', () => {
  it('commit: the message is delivered once, after the local transaction, and no checkback is needed', async () => {
    const broker = openBroker();
    const h = await startApp(broker);
    let visibleDuringLocal = -1;
    const result = await h.publisher.sendInTransaction(payment('o-1', 25), async ({ messageId, txId }) => {
      expect(broker.engine.getHalfMessage(txId)).toMatchObject({ messageId, state: 'unresolved' });
      await sleep(50);
      visibleDuringLocal = h.shipping.seen.length;
      h.local.paid.add('o-1');
      return 'commit';
    });
    expect(result).toMatchObject({ outcome: 'commit', settled: true });
    expect(visibleDuringLocal).toBe(0);
    await until(() => h.shipping.seen.length === 1, 'the committed payment');
    expect(h.shipping.seen[0]!.payload).toEqual({ orderId: 'o-1', amount: 25 });
    expect(h.shipping.seen[0]!.ctx).toMatchObject({ id: result.messageId, key: 'o-1', topic: PAYMENTS });
    await sleep(SETTLE_MS);
    expect(h.shipping.seen).toHaveLength(1);
    expect(h.local.checks).toEqual([]);
  });

  it('rollback: nothing is delivered, and the record stays for audit', async () => {
    const broker = openBroker();
    const h = await startApp(broker);
    const result = await h.publisher.sendInTransaction(payment('o-2'), async () => 'rollback');
    expect(result).toMatchObject({ outcome: 'rollback', settled: true });
    await sleep(SETTLE_MS + FAST.transactionTimeoutMs);
    expect(h.shipping.seen).toEqual([]);
    expect(h.local.checks).toEqual([]);
    expect(broker.engine.getHalfMessage(result.txId)).toMatchObject({ state: 'rolled_back', resolvedBy: 'producer' });
  });

  it('unknown: the checker answers commit from local state, and the message is delivered once', async () => {
    const broker = openBroker();
    const h = await startApp(broker);
    const result = await h.publisher.sendInTransaction(payment('o-3'), async () => {
      h.local.paid.add('o-3');
      return 'unknown';
    });
    expect(result).toMatchObject({ outcome: 'unknown', settled: false });
    await until(() => h.shipping.seen.length === 1, 'the payment committed by checkback');
    expect(h.local.checks).toHaveLength(1);
    expect(h.local.checks[0]!.payload).toEqual({ orderId: 'o-3', amount: 10 });
    expect(h.local.checks[0]!.ctx).toMatchObject({
      txId: result.txId,
      messageId: result.messageId,
      producerGroup: GROUP,
      topic: PAYMENTS,
      key: 'o-3',
      checkCount: 1,
    });
    expect(broker.engine.getHalfMessage(result.txId)).toMatchObject({ state: 'committed', resolvedBy: 'checkback' });
    await sleep(SETTLE_MS);
    expect(h.shipping.seen).toHaveLength(1);
  });

  it('a local transaction that throws counts as unknown; the checker then rolls back and nothing is delivered', async () => {
    const broker = openBroker();
    const h = await startApp(broker);
    const failure = new Error('card declined');
    const result = await h.publisher.sendInTransaction(payment('o-4'), async () => {
      h.local.failed.add('o-4');
      throw failure;
    });
    expect(result).toMatchObject({ outcome: 'unknown', settled: false, error: failure });
    await until(() => broker.engine.getHalfMessage(result.txId)?.state === 'rolled_back', 'the checkback rollback');
    expect(broker.engine.getHalfMessage(result.txId)).toMatchObject({ resolvedBy: 'checkback' });
    await sleep(SETTLE_MS);
    expect(h.shipping.seen).toEqual([]);
  });

  it('an answer that is not an outcome counts as unknown; the checker keeps being asked until it knows', async () => {
    const broker = openBroker();
    const h = await startApp(broker);
    // A plain (non-promise) value, and not an outcome: JavaScript callers can pass anything.
    const result = await h.publisher.sendInTransaction(payment('o-5'), (() => 'yes') as unknown as LocalTransaction);
    expect(result).toMatchObject({ outcome: 'unknown', settled: false });
    await until(() => h.local.checks.length >= 2, 'two checks');
    expect(h.shipping.seen).toEqual([]);
    h.local.paid.add('o-5');
    await until(() => h.shipping.seen.length === 1, 'the commit once local state says paid');
  });

  it('routes a checkback to the checker of its topic, else to the group checker without a topic', async () => {
    const broker = openBroker();
    const h = await startApp(broker, [LocalPayments, EverythingElse, Shipping]);
    const others = h.app.get(EverythingElse);
    await h.publisher.sendInTransaction(
      { topic: REFUNDS, key: 'o-6', payload: { orderId: 'o-6', amount: 1 } },
      async () => 'unknown',
    );
    await h.publisher.sendInTransaction(payment('o-7'), async () => {
      h.local.paid.add('o-7');
      return 'unknown';
    });
    await until(() => h.shipping.seen.length === 2, 'both messages committed by checkback');
    expect(others.asked).toEqual([REFUNDS]);
    expect(h.local.checks.map((check) => check.payload.orderId)).toEqual(['o-7']);
  });

  it('refuses a malformed message before anything is sent', async () => {
    const broker = openBroker();
    const h = await startApp(broker);
    let ran = false;
    await expect(
      h.publisher.sendInTransaction({ topic: 'bad topic', payload: {} }, async () => {
        ran = true;
        return 'commit';
      }),
    ).rejects.toBeInstanceOf(InvalidMessageError);
    expect(ran).toBe(false);
    expect(broker.engine.listHalfMessages({ state: 'any' }).total).toBe(0);
    await expect(h.publisher.sendInTransaction(payment('o-8'), 'commit' as never)).rejects.toThrow(/needs a function/);
  });

  it('any live instance of the group may answer; checkers are unregistered at shutdown', async () => {
    const broker = openBroker();
    const a = await startApp(broker, [LocalPayments]);
    const b = await startApp(broker, [LocalPayments]);
    for (const instance of [a, b]) for (const order of ['o-9', 'o-10', 'o-11']) instance.local.paid.add(order);
    expect(a.app.get(TransactionCheckerRegistry).registered).toBe(1);
    await a.publisher.sendInTransaction(payment('o-9'), async () => 'unknown');
    await a.publisher.sendInTransaction(payment('o-10'), async () => 'unknown');
    await until(() => broker.engine.stats().transactions.unresolved === 0, 'both committed by checkback');
    expect(a.local.checks.length + b.local.checks.length).toBe(2);

    // With instance a gone, b answers.
    await a.close();
    const afterA = a.local.checks.length;
    const third = await b.publisher.sendInTransaction(payment('o-11'), async () => 'unknown');
    await until(() => broker.engine.getHalfMessage(third.txId)?.state === 'committed', 'the check answered by b');
    expect(a.local.checks.length).toBe(afterA);

    // With every instance gone, the broker finds no checker and says so.
    await b.close();
    const orphan = await broker.engine.sendHalf(
      { topic: PAYMENTS, body: '{"orderId":"o-12","amount":1}' },
      { producerGroup: GROUP },
    );
    await until(() => broker.warnings.some((warning) => warning.includes(orphan.txId)), 'the no-checker warning');
    expect(broker.warnings.filter((warning) => warning.includes('No transaction checker is registered'))).toHaveLength(
      1,
    );
    await broker.engine.rollbackHalf(orphan.txId);
  });

  it('lists and settles discarded messages through the transport', async () => {
    const broker = openBroker();
    const h = await startApp(broker);
    const tx = h.app.get<Transport>(RELIABLE_MQ_TRANSPORT).transactions!;
    const sent = await tx.sendHalf(
      { id: 'manual-1', topic: PAYMENTS, headers: {}, body: Buffer.from('{"orderId":"o-13","amount":3}') },
      'nobody',
    );
    await until(() => broker.engine.getHalfMessage(sent.txId)!.checkCount >= 1, 'a check of a group without checkers');
    expect((await tx.listUnresolved({ producerGroup: 'nobody' })).items.map((half) => half.txId)).toEqual([sent.txId]);
    expect((await tx.listDiscarded()).total).toBe(0);
    await expect(tx.commitDiscarded([sent.txId])).rejects.toThrow(
      /Cannot commit a discarded half message .*: it is already unresolved/,
    );
    await tx.commit(sent.txId);
    await tx.commit(sent.txId);
    await until(() => h.shipping.seen.length === 1, 'the manual commit');
    await expect(tx.rollback(sent.txId)).rejects.toThrow(/already committed/);
  });
});

describe('@TransactionChecker discovery refuses what cannot work, at startup', () => {
  async function init(
    providers: Array<new (...args: never[]) => object>,
    imports: Array<new () => object> = [],
  ): Promise<unknown> {
    const broker = openBroker();
    return startupErrorOf(
      {
        imports: [
          ReliableMqModule.forRoot({
            producerGroup: GROUP,
            transport: { kind: 'embedded', sharedEngine: broker.engine },
          }),
          ...imports,
        ],
        providers,
      },
      cleanups,
    );
  }

  it('two checkers for one (producer group, topic)', async () => {
    @Injectable()
    class First {
      @TransactionChecker({ topic: PAYMENTS })
      a(): LocalTransactionOutcome {
        return 'unknown';
      }
    }
    @Injectable()
    class Second {
      @TransactionChecker({ topic: PAYMENTS, producerGroup: GROUP })
      b(): LocalTransactionOutcome {
        return 'unknown';
      }
    }
    const error = await init([First, Second]);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(
      /producer group "payment-service" and topic "payment.confirmed": First\.a and Second\.b/,
    );
  });

  it('two checkers for every topic of one group', async () => {
    @Injectable()
    class One {
      @TransactionChecker()
      a(): LocalTransactionOutcome {
        return 'unknown';
      }
      @TransactionChecker({ producerGroup: GROUP })
      b(): LocalTransactionOutcome {
        return 'unknown';
      }
    }
    const error = await init([One]);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(/and every topic: One\.a and One\.b/);
  });

  it('accepts the same topic in two producer groups', async () => {
    @Injectable()
    class Two {
      @TransactionChecker({ topic: PAYMENTS })
      a(): LocalTransactionOutcome {
        return 'unknown';
      }
      @TransactionChecker({ topic: PAYMENTS, producerGroup: 'legacy-payments' })
      b(): LocalTransactionOutcome {
        return 'unknown';
      }
    }
    expect(await init([Two])).toBeNull();
  });

  it('a checker in a request-scoped provider', async () => {
    @Injectable({ scope: Scope.REQUEST })
    class Scoped {
      @TransactionChecker({ topic: PAYMENTS })
      a(): LocalTransactionOutcome {
        return 'unknown';
      }
    }
    @Module({ providers: [Scoped] })
    class ScopedModule {}
    const error = await init([], [ScopedModule]);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toMatch(/@TransactionChecker Scoped\.a is in a request-scoped provider/);
  });

  it('checkers or sendInTransaction on a transport without transactional messages', async () => {
    const bare: Transport = {
      kind: 'bare',
      connect: async () => undefined,
      ensureTopic: async () => undefined,
      publish: async () => [],
      subscribe: async () => ({ close: async () => undefined }),
      deadLetters: {} as Transport['deadLetters'],
      close: async () => undefined,
    };
    const checker: DiscoveredChecker = {
      producerGroup: GROUP,
      topic: undefined,
      instance: {},
      methodName: 'x',
      name: 'Local.check',
    };
    const explorer = { explore: () => [checker] } as unknown as TransactionCheckerExplorer;
    await expect(new TransactionCheckerRegistry(explorer, bare).start()).rejects.toThrow(
      /@TransactionChecker Local\.check cannot be registered: the "bare" transport has no transactional messages/,
    );
    const publisher = new ReliablePublisher({ transport: bare, producerGroup: GROUP });
    await expect(publisher.sendInTransaction(payment('o-14'), async () => 'commit')).rejects.toBeInstanceOf(
      ConfigurationError,
    );
  });
});
