/** Cards the fake gateway treats specially; every other card number is charged. Listed in docs/sample.md. */
export const TEST_CARDS = {
  /** Succeeds. Any card number not listed below behaves the same. */
  ok: '4242424242424242',
  /** The gateway times out on the first two calls for an order, then charges it: watch the retry levels. */
  failsTwice: '4000000000000119',
  /** Declined for good: the message goes to the DLQ and the order stays PENDING until an operator steps in. */
  declined: '4000000000000002',
} as const;

/** Calls of the `failsTwice` card that time out before one succeeds. */
export const TRANSIENT_FAILURES = 2;
