import { ReliableMqError } from './reliable-mq.error';

export class InvalidNameError extends ReliableMqError {
  readonly code = 'INVALID_NAME';

  constructor(
    readonly kind: string,
    readonly value: unknown,
    reason: string,
  ) {
    super(`Invalid ${kind} name ${JSON.stringify(value)}: ${reason}.`);
  }
}
