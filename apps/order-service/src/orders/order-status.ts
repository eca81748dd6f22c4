export const ORDER_STATUSES = ['PENDING', 'PAID', 'FAILED'] as const;

/** `PENDING` until the payment service answers; `PAID` and `FAILED` are final. */
export type OrderStatus = (typeof ORDER_STATUSES)[number];
