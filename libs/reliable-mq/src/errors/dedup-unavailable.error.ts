import { ReliableMqError } from '@reliable-mq/engine';

/** The dedup store could not be reached; the handler was not run and the message is retried later. */
export class DedupUnavailableError extends ReliableMqError {
  readonly code = 'DEDUP_UNAVAILABLE';

  constructor(
    readonly store: string,
    cause: unknown,
  ) {
    super(
      `The ${store} dedup store is unreachable (${cause instanceof Error ? cause.message : String(cause)}); the handler was not run and the message will be retried.`,
    );
  }
}
