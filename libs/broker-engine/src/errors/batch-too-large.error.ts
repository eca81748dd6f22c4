import { ReliableMqError } from './reliable-mq.error';

export class BatchTooLargeError extends ReliableMqError {
  readonly code = 'BATCH_TOO_LARGE';

  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`Batch holds ${size} messages; the limit is ${limit} (maxBatchSize). Nothing in the batch was stored.`);
  }
}
