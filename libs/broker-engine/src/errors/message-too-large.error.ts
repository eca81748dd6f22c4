import { ReliableMqError } from './reliable-mq.error';

export class MessageTooLargeError extends ReliableMqError {
  readonly code = 'MESSAGE_TOO_LARGE';

  constructor(
    readonly sizeBytes: number,
    readonly limitBytes: number,
    readonly index?: number,
  ) {
    super(
      `Message${index === undefined ? '' : ` #${index}`} body is ${sizeBytes} bytes; the limit is ${limitBytes} bytes (maxBodyBytes). Nothing in the batch was stored.`,
    );
  }
}
