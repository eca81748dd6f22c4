/**
 * Throw from a handler to send the message straight to the DLQ with this reason,
 * skipping the retry levels. Deliberately not a ReliableMqError: it is user code's
 * signal, not a failure of the framework.
 */
export class NonRetryableError extends Error {
  readonly nonRetryable = true;

  constructor(reason: string, options?: { cause?: unknown }) {
    super(reason);
    this.name = 'NonRetryableError';
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}
