import { ReliableMqError } from '@reliable-mq/engine';

export class PayloadTooLargeError extends ReliableMqError {
  readonly code = 'PAYLOAD_TOO_LARGE';

  constructor(
    readonly sizeBytes: number,
    readonly limitBytes: number,
    readonly index?: number,
  ) {
    super(
      `Message${index === undefined ? '' : ` #${index}`} payload serialises to ${sizeBytes} bytes; the limit is ${limitBytes} bytes (maxPayloadBytes).`,
    );
  }
}
