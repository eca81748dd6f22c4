import { isNonRetryable, requestedRetryDelay } from '@reliable-mq/engine';
import type { FailureFate } from '../observability/messaging-telemetry';

/** What a subscription's settings say about the retries of its failed deliveries. */
export interface RetrySettings {
  maxReconsumeTimes: number;
  /** The subscription set its own delay levels (retry n waits level n), rather than the broker's (level 3 + n). */
  customLevels: boolean;
  /** Orderly and broadcasting consumers retry in place after a pause: no retry topic, no delay level. */
  inPlace: boolean;
}

/**
 * Where a failed delivery goes next, by the rule every transport applies (the engine's, which RabbitMQ's retry router
 * repeats): a non-retryable error, or a delivery that had `maxReconsumeTimes` failures before it, goes to the DLQ;
 * any other is retried after its delay level, or after the delay the error asked for.
 */
export function failureFate(error: unknown, attempt: number, settings: RetrySettings): FailureFate {
  if (isNonRetryable(error)) return { kind: 'dead_letter', reason: 'non_retryable' };
  if (attempt >= settings.maxReconsumeTimes) return { kind: 'dead_letter', reason: 'max_reconsume_times' };
  const retryDelayMs = requestedRetryDelay(error);
  if (retryDelayMs !== undefined) return { kind: 'retry', retryDelayMs };
  if (settings.inPlace) return { kind: 'retry' };
  return { kind: 'retry', delayLevel: settings.customLevels ? attempt + 1 : 3 + attempt };
}
