import { Injectable } from '@nestjs/common';
import { MqConsumer, type MessageContext } from '@reliable-mq/nestjs';
import { ORDER_SERVICE_GROUP, PAYMENT_FAILED, PAYMENT_SUCCEEDED } from '../messages';
import { OrdersService } from '../orders/orders.service';
import { PaymentFailedDto, PaymentSucceededDto } from './payment-result.dto';

/**
 * Applies the payment service's answers to orders. Both handlers dedup on the order id: an order gets one payment
 * outcome, however many times it is delivered.
 */
@Injectable()
export class PaymentResultsConsumer {
  constructor(private readonly orders: OrdersService) {}

  @MqConsumer<PaymentSucceededDto>({
    topic: PAYMENT_SUCCEEDED,
    group: ORDER_SERVICE_GROUP,
    dedupKey: (payload) => payload.orderId,
    dto: PaymentSucceededDto,
    startFrom: 'earliest',
  })
  async paid(payload: PaymentSucceededDto, ctx: MessageContext): Promise<void> {
    await this.orders.settle(
      payload.orderId,
      'PAID',
      `payment.succeeded received: payment ${payload.paymentId} of ${payload.amount} (message ${ctx.id})`,
    );
  }

  @MqConsumer<PaymentFailedDto>({
    topic: PAYMENT_FAILED,
    group: ORDER_SERVICE_GROUP,
    dedupKey: (payload) => payload.orderId,
    dto: PaymentFailedDto,
    startFrom: 'earliest',
  })
  async failed(payload: PaymentFailedDto, ctx: MessageContext): Promise<void> {
    await this.orders.settle(
      payload.orderId,
      'FAILED',
      `payment.failed received: ${payload.reason} (message ${ctx.id})`,
    );
  }
}
