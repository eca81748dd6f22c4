import { ReliableMqError } from './reliable-mq.error';

export class InvalidArgumentError extends ReliableMqError {
  readonly code = 'INVALID_ARGUMENT';

  constructor(message: string) {
    super(message);
  }
}
