/**
 * The messages the order service exchanges. The payment service declares its own copy of the shapes it reads:
 * services share contracts, not code.
 */
export const ORDER_CREATED = 'order.created';
export const PAYMENT_SUCCEEDED = 'payment.succeeded';
export const PAYMENT_FAILED = 'payment.failed';
export const ORDER_SERVICE_TOPICS = [ORDER_CREATED, PAYMENT_SUCCEEDED, PAYMENT_FAILED];

/** Producer group, and consumer group of the payment results. */
export const ORDER_SERVICE_GROUP = 'order-service';

/** Payload of `order.created`; its key is the order id. */
export interface OrderCreatedPayload {
  orderId: string;
  customerId: string;
  /** In currency units, at most two decimals. */
  amount: number;
  /** A test card number: the sample's fake gateway decides by it (see docs/sample.md). */
  card: string;
}
