import { Injectable, Logger } from '@nestjs/common';
import { TransactionChecker, type LocalTransactionOutcome, type TransactionCheckContext } from '@reliable-mq/nestjs';
import { DataSource } from 'typeorm';
import { PAYMENT_SUCCEEDED, type PaymentSucceededPayload } from '../messages';
import { PaymentConfirmations } from './payment-confirmations.service';
import { PaymentEntity } from './payment.entity';

/**
 * Answers the broker about a `payment.succeeded` half message that was neither committed nor rolled back (the
 * process died between the two, or the commit was lost): it was sent for real exactly when its payment row exists.
 */
@Injectable()
export class PaymentSucceededChecker {
  private readonly logger = new Logger(PaymentSucceededChecker.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly confirmations: PaymentConfirmations,
  ) {}

  @TransactionChecker({ topic: PAYMENT_SUCCEEDED })
  async check(payload: PaymentSucceededPayload, ctx: TransactionCheckContext): Promise<LocalTransactionOutcome> {
    // Its transaction is still open here: the row may be written but not yet committed.
    if (this.confirmations.isPending(ctx.messageId)) return 'unknown';
    // Looked up by message id: a redelivered order.created writes its own row under its own message.
    const payment = await this.dataSource.manager.findOneBy(PaymentEntity, { messageId: ctx.messageId });
    const outcome = payment?.status === 'SUCCEEDED' ? 'commit' : 'rollback';
    this.logger.log(
      `Checkback ${ctx.checkCount} for payment.succeeded ${ctx.messageId} of order ${payload?.orderId}: ` +
        (outcome === 'commit' ? `payment ${payment!.id} exists, commit` : 'no payment row, roll back'),
    );
    return outcome;
  }
}
