import { ReliableMqError } from '@reliable-mq/engine';

/** A message handed to the publisher is malformed: bad topic, key, headers, delay or payload. */
export class InvalidMessageError extends ReliableMqError {
  readonly code = 'INVALID_MESSAGE';

  constructor(
    message: string,
    readonly index?: number,
  ) {
    super(index === undefined ? message : `Message #${index}: ${message}`);
  }
}
