import type { PaymentEntity, PaymentStatus } from './payment.entity';

export interface PaymentView {
  id: string;
  orderId: string;
  status: PaymentStatus;
  amount: number;
  card: string;
  gatewayChargeId: string | null;
  /** Deliveries of `order.created` it took. */
  attempts: number;
  reason: string | null;
  messageId: string;
  createdAt: string;
}

export function toPaymentView(payment: PaymentEntity): PaymentView {
  return {
    id: payment.id,
    orderId: payment.orderId,
    status: payment.status,
    amount: payment.amountCents / 100,
    card: `**** ${payment.cardLast4}`,
    gatewayChargeId: payment.gatewayChargeId,
    attempts: payment.attempts,
    reason: payment.reason,
    messageId: payment.messageId,
    createdAt: new Date(payment.createdAt).toISOString(),
  };
}
