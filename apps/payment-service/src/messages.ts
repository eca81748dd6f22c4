/**
 * The messages the payment service exchanges. The order service declares its own copy of the shapes it reads:
 * services share contracts, not code.
 */
export const ORDER_CREATED = 'order.created';
export const PAYMENT_SUCCEEDED = 'payment.succeeded';
export const PAYMENT_FAILED = 'payment.failed';
export const PAYMENT_SERVICE_TOPICS = [ORDER_CREATED, PAYMENT_SUCCEEDED, PAYMENT_FAILED];

/** Producer group (its transaction checker answers for it) and consumer group of `order.created`. */
export const PAYMENT_SERVICE_GROUP = 'payment-service';

/** Payload of `payment.succeeded`, published as a transactional message; key = order id. */
export interface PaymentSucceededPayload {
  orderId: string;
  paymentId: string;
  amount: number;
}

/** Payload of `payment.failed`, published through the outbox; key = order id. */
export interface PaymentFailedPayload {
  orderId: string;
  paymentId: string;
  reason: string;
}
