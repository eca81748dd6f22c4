import { Injectable, Logger } from '@nestjs/common';
import { MqConsumer, NonRetryableError, ReliablePublisher, type MessageContext } from '@reliable-mq/nestjs';
import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { CardDeclinedError } from '../gateway/card-declined.error';
import { FakePaymentGateway } from '../gateway/fake-payment-gateway';
import { ORDER_CREATED, PAYMENT_FAILED, PAYMENT_SERVICE_GROUP, type PaymentFailedPayload } from '../messages';
import { OrderCreatedDto } from './order-created.dto';
import { PaymentConfirmations } from './payment-confirmations.service';
import { PaymentEntity } from './payment.entity';

/** Business rule: amounts above this are refused without charging. */
export const PAYMENT_LIMIT = 10_000;

/**
 * Charges each order once. Dedup on the order id with the `db` store: the inbox row commits together with the
 * payment row, so a redelivered `order.created` finds it and is skipped before anything is charged.
 *
 * - normal card: charged, `payment.succeeded` as a transactional message (see PaymentConfirmations);
 * - gateway timeout: the handler throws, ReliableMQ retries after the next delay level;
 * - card declined: NonRetryableError, straight to the DLQ with the reason; nothing is published;
 * - amount above the limit: a REFUSED payment row and `payment.failed` through the outbox, in the same transaction.
 */
@Injectable()
export class ChargeOrderConsumer {
  private readonly logger = new Logger(ChargeOrderConsumer.name);

  constructor(
    private readonly gateway: FakePaymentGateway,
    private readonly confirmations: PaymentConfirmations,
    private readonly publisher: ReliablePublisher,
  ) {}

  @MqConsumer<OrderCreatedDto>({
    topic: ORDER_CREATED,
    group: PAYMENT_SERVICE_GROUP,
    dedupKey: (order) => order.orderId,
    dto: OrderCreatedDto,
    startFrom: 'earliest',
  })
  async charge(order: OrderCreatedDto, ctx: MessageContext): Promise<void> {
    const manager = ctx.manager;
    if (!manager)
      throw new Error(
        'ChargeOrderConsumer needs the db dedup store, which hands it the inbox transaction (ctx.manager).',
      );
    const amountCents = Math.round(order.amount * 100);
    const attempts = ctx.attempt + 1;
    if (order.amount > PAYMENT_LIMIT) {
      await this.refuse(
        manager,
        order,
        amountCents,
        attempts,
        `amount ${order.amount} is above the limit of ${PAYMENT_LIMIT}`,
      );
      return;
    }

    let charge;
    try {
      charge = await this.gateway.charge({ idempotencyKey: order.orderId, card: order.card, amountCents });
    } catch (error) {
      if (error instanceof CardDeclinedError) {
        throw new NonRetryableError(
          `Payment of order ${order.orderId} declined: ${error.message}. Fix the card in the message and resend it from the DLQ.`,
          { cause: error },
        );
      }
      // Anything else may pass next time: rethrown, so the message is retried after the next delay level.
      throw error;
    }

    const paymentId = randomUUID();
    await this.confirmations.record(manager, {
      id: paymentId,
      orderId: order.orderId,
      status: 'SUCCEEDED',
      amountCents,
      cardLast4: charge.cardLast4,
      gatewayChargeId: charge.id,
      attempts,
      reason: null,
      createdAt: Date.now(),
    });
    this.logger.log(
      `Order ${order.orderId} charged ${order.amount} (charge ${charge.id}, delivery ${attempts}); payment.succeeded commits with the payment row`,
    );
  }

  private async refuse(
    manager: EntityManager,
    order: OrderCreatedDto,
    amountCents: number,
    attempts: number,
    reason: string,
  ): Promise<void> {
    const paymentId = randomUUID();
    const payload: PaymentFailedPayload = { orderId: order.orderId, paymentId, reason };
    const messageId = await this.publisher.publish({ topic: PAYMENT_FAILED, key: order.orderId, payload }, { manager });
    await manager.insert(PaymentEntity, {
      id: paymentId,
      orderId: order.orderId,
      status: 'REFUSED',
      amountCents,
      cardLast4: order.card.slice(-4),
      gatewayChargeId: null,
      attempts,
      reason,
      messageId,
      createdAt: Date.now(),
    });
    this.logger.log(`Order ${order.orderId} refused: ${reason}; payment.failed is in the outbox`);
  }
}
