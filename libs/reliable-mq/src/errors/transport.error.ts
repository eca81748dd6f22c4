import { ReliableMqError } from '@reliable-mq/engine';

/** The transport failed to confirm a publish (closed connection, nack, unroutable); the outbox relay retries. */
export class TransportError extends ReliableMqError {
  readonly code = 'TRANSPORT';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message);
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}
