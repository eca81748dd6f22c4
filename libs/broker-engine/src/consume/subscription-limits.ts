/**
 * What a subscription may ask for, and what it gets when it asks for nothing. One table for the engine, the standalone
 * broker's wire checks, `@MqConsumer` and the module's consumer defaults, so that a value one of them accepts is never
 * refused by another at subscribe time.
 */
export const SUBSCRIPTION_LIMITS = {
  /** Unacknowledged messages a member holds at once. */
  prefetch: { min: 1, max: 10_000, default: 32 },
  /** Failed deliveries retried through the delay levels before the message goes to the DLQ. */
  maxReconsumeTimes: { min: 0, max: 1000, default: 16 },
} as const;

/** True when `value` is an integer within the limit. */
export function withinLimit(value: unknown, limit: { readonly min: number; readonly max: number }): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= limit.min && value <= limit.max;
}
