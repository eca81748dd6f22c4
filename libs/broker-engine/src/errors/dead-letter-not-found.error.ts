import { ReliableMqError } from './reliable-mq.error';

export class DeadLetterNotFoundError extends ReliableMqError {
  readonly code = 'DEAD_LETTER_NOT_FOUND';

  constructor(
    readonly id: number,
    readonly expectedStatus: string,
  ) {
    super(`Dead letter ${id} does not exist or is no longer ${expectedStatus}; list the DLQ again to see its state.`);
  }
}
