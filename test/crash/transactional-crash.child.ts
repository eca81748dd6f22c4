/**
 * A producer process for the transactional crash test:
 *   node transactional-crash.child.ts <brokerDir> <localDir> <run> crash <killAt>
 *   node transactional-crash.child.ts <brokerDir> <localDir> <run> settle
 *
 * Both start a Nest application with ReliableMqModule on the embedded broker (sync flush) and a @TransactionChecker
 * that answers from the producer's local SQLite table. That checker is this process's instance of the producer group:
 * it settles the half messages earlier, killed runs left behind.
 *
 * `crash`: two loops run payments through `sendInTransaction`. The local transaction of the `killAt`-th payment
 * reports `kill-point` right after its local commit and then waits, blocked, for the parent's SIGKILL: the commit
 * never reaches the broker. The other loop is wherever it happens to be.
 * `settle`: sends nothing, waits until no half message is unresolved, closes the app cleanly and exits 0.
 */
import 'reflect-metadata';
import { Injectable, Module, type LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  EmbeddedTransport,
  RELIABLE_MQ_TRANSPORT,
  ReliableMqModule,
  ReliablePublisher,
  TransactionChecker,
  type LocalTransactionOutcome,
  type TransactionCheckContext,
} from '@reliable-mq/nestjs';
import { blockFor, writeLineSync } from '../support/child-lines';
import {
  LOCAL_DB_FILE,
  LOCAL_SCHEMA,
  TX_ENGINE_TIMING,
  TX_PRODUCER_GROUP,
  TX_QUEUES,
  TX_ROLLBACK_GRACE_MS,
  TX_TOPIC,
  planOf,
  type ChildLine,
  type PaymentPayload,
} from './transactional-crash.protocol';

const CRASH_RUN_LIMIT_MS = 20_000;
const SETTLE_LIMIT_MS = 30_000;
const LOOPS = 2;

const emit = (line: ChildLine): void => writeLineSync(line);

/** Nest's log lines as protocol lines, so stdout stays one JSON object per line. */
class LineLogger implements LoggerService {
  log(message: unknown): void {
    emit({ kind: 'log', level: 'log', message: String(message) });
  }
  warn(message: unknown): void {
    emit({ kind: 'log', level: 'warn', message: String(message) });
  }
  error(message: unknown, trace?: unknown): void {
    emit({ kind: 'log', level: 'error', message: `${String(message)}${trace ? `\n${String(trace)}` : ''}` });
  }
  debug(): void {}
  verbose(): void {}
}

const [brokerDir, localDir, runText, mode, killAtText] = process.argv.slice(2);
const run = Number(runText);
const killAt = Number(killAtText);
if (
  !brokerDir ||
  !localDir ||
  !Number.isInteger(run) ||
  (mode !== 'crash' && mode !== 'settle') ||
  (mode === 'crash' && !(killAt >= 1))
) {
  throw new Error('usage: transactional-crash.child.ts <brokerDir> <localDir> <run> crash <killAt> | settle');
}

mkdirSync(localDir, { recursive: true });
const local = new Database(join(localDir, LOCAL_DB_FILE));
local.pragma('journal_mode = WAL');
// The local commit must be on disk before the producer goes on to send the broker's commit.
local.pragma('synchronous = FULL');
local.exec(LOCAL_SCHEMA);
const findPayment = local.prepare('SELECT message_id FROM payments WHERE order_id = ?');
const insertPayment = local.prepare('INSERT INTO payments (order_id, message_id, run, paid_at) VALUES (?, ?, ?, ?)');

/** The producer group's checker: answers from the local table only. */
@Injectable()
class PaymentChecker {
  @TransactionChecker({ topic: TX_TOPIC })
  async check(payload: PaymentPayload, ctx: TransactionCheckContext): Promise<LocalTransactionOutcome> {
    let answer: LocalTransactionOutcome;
    if (findPayment.get(payload.orderId)) answer = 'commit';
    else answer = Date.now() - ctx.sentAt >= TX_ROLLBACK_GRACE_MS ? 'rollback' : 'unknown';
    emit({ kind: 'checked', orderId: payload.orderId, answer, checkCount: ctx.checkCount });
    return answer;
  }
}

@Module({
  imports: [
    ReliableMqModule.forRoot({
      producerGroup: TX_PRODUCER_GROUP,
      transport: {
        kind: 'embedded',
        dataDir: brokerDir,
        flush: 'sync',
        topics: [{ name: TX_TOPIC, queueCount: TX_QUEUES }],
        engine: { ...TX_ENGINE_TIMING, minFreeDiskBytes: 0 },
      },
    }),
  ],
  providers: [PaymentChecker],
})
class ProducerModule {}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const app = await NestFactory.createApplicationContext(ProducerModule, {
    logger: new LineLogger(),
    abortOnError: false,
  });
  await app.init();
  emit({ kind: 'open', run, pid: process.pid });
  const engine = (app.get(RELIABLE_MQ_TRANSPORT) as EmbeddedTransport).engine;

  if (mode === 'crash') {
    const publisher = app.get(ReliablePublisher);
    emit({ kind: 'producing' });
    const stopAt = Date.now() + CRASH_RUN_LIMIT_MS;
    let sequence = 0;
    const loop = async (loopNo: number): Promise<void> => {
      while (Date.now() < stopAt) {
        const number = ++sequence;
        const orderId = `r${run}-o${number}`;
        const plan = planOf(number);
        const payload: PaymentPayload = { orderId, run };
        const result = await publisher.sendInTransaction(
          { topic: TX_TOPIC, key: orderId, payload },
          async ({ messageId, txId }) => {
            emit({ kind: 'local-begin', orderId, messageId, txId, plan });
            if (plan === 'rollback') return 'rollback';
            if (plan === 'throw') throw new Error(`payment ${orderId} declined`);
            insertPayment.run(orderId, messageId, run, Date.now());
            emit({ kind: 'local-committed', orderId });
            if (number === killAt) {
              emit({ kind: 'kill-point', orderId });
              // Blocked, not awaiting: nothing else in this process runs until the parent's SIGKILL lands.
              while (Date.now() < stopAt) blockFor(50);
            }
            return plan === 'commit' ? 'commit' : 'unknown';
          },
        );
        emit({ kind: 'ended', orderId, outcome: result.outcome, settled: result.settled });
        // Spread the loops apart so the kill finds the other one at varied points.
        await sleep((number * 7 + loopNo) % 4);
      }
    };
    await Promise.all(Array.from({ length: LOOPS }, (_, index) => loop(index)));
    emit({ kind: 'error', message: `crash run ${run} was not killed within its limit` });
    process.exit(3);
  }

  const stopAt = Date.now() + SETTLE_LIMIT_MS;
  for (;;) {
    const { unresolved, discarded } = engine.stats().transactions;
    if (unresolved === 0) {
      await app.close();
      local.close();
      emit({ kind: 'settled', unresolved, discarded });
      process.exit(0);
    }
    if (Date.now() > stopAt) {
      emit({
        kind: 'error',
        message: `settle run ${run}: ${unresolved} half messages still unresolved after ${SETTLE_LIMIT_MS} ms`,
      });
      process.exit(4);
    }
    await sleep(20);
  }
}

main().catch((error: unknown) => {
  emit({ kind: 'error', message: String((error as Error).stack ?? error) });
  process.exit(2);
});
