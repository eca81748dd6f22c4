import { Injectable, Logger } from '@nestjs/common';
import { ReliablePublisher, type LocalTransactionOutcome } from '@reliable-mq/nestjs';
import type { EntityManager } from 'typeorm';
import { TransactionEndWatcher } from '../database/transaction-end-watcher';
import { PAYMENT_SUCCEEDED, type PaymentSucceededPayload } from '../messages';
import { PaymentEntity } from './payment.entity';

/** How long the local transaction waits for the handler's transaction to end before leaving it to the checker. */
const LOCAL_END_WAIT_MS = 30_000;

/**
 * Records a charged payment and publishes `payment.succeeded` as a transactional message.
 *
 * The payment row is written in the handler's transaction (`ctx.manager`), which also holds the dedup inbox row and
 * commits when the handler returns. So the local transaction of `sendInTransaction` answers only once that
 * transaction has ended: `commit` after its commit, `rollback` after its rollback. The half message becomes visible
 * exactly when the payment row is durable. If the process dies in between, the broker checks back with
 * PaymentSucceededChecker, which looks for the row.
 */
@Injectable()
export class PaymentConfirmations {
  private readonly logger = new Logger(PaymentConfirmations.name);
  /** Messages whose local transaction has not ended in this process: the checker answers `unknown` for them. */
  private readonly pending = new Set<string>();

  constructor(
    private readonly publisher: ReliablePublisher,
    private readonly transactions: TransactionEndWatcher,
  ) {}

  /**
   * Resolves once the half message is stored and the payment row is written in `manager`'s transaction; the
   * handler may then return. The half message is committed or rolled back in the background, when that
   * transaction ends. Rejects (and nothing is published) when the half message or the row cannot be written.
   */
  async record(manager: EntityManager, payment: Omit<PaymentEntity, 'messageId'>): Promise<void> {
    const queryRunner = manager.queryRunner;
    if (!queryRunner?.isTransactionActive)
      throw new Error('PaymentConfirmations.record() needs the handler transaction (ctx.manager).');
    const ended = this.transactions.whenEnds(queryRunner);
    const written = deferred();
    const payload: PaymentSucceededPayload = {
      orderId: payment.orderId,
      paymentId: payment.id,
      amount: payment.amountCents / 100,
    };

    const sending = this.publisher.sendInTransaction(
      { topic: PAYMENT_SUCCEEDED, key: payment.orderId, payload },
      async ({ messageId }): Promise<LocalTransactionOutcome> => {
        this.pending.add(messageId);
        try {
          try {
            await manager.insert(PaymentEntity, { ...payment, messageId });
          } catch (error) {
            written.reject(error);
            return 'rollback';
          }
          written.resolve();
          const end = await within(ended, LOCAL_END_WAIT_MS);
          return end ?? 'unknown';
        } finally {
          this.pending.delete(messageId);
        }
      },
    );
    sending.then(
      (result) => {
        if (result.outcome === 'unknown' || !result.settled) {
          this.logger.warn(
            `payment.succeeded ${result.messageId} of order ${payment.orderId} is not settled yet (${result.outcome}); the broker will check back`,
          );
        }
      },
      // Before the local transaction ran (the half message could not be stored): nothing was written.
      (error: unknown) => written.reject(error),
    );
    await written.promise;
  }

  /** True while the local transaction of this message may still commit in this process. */
  isPending(messageId: string): boolean {
    return this.pending.has(messageId);
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (error: unknown) => void } {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((done, fail) => {
    resolve = done;
    reject = fail;
  });
  return { promise, resolve, reject };
}

async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
