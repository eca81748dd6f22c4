import { ReliableMqError } from '@reliable-mq/engine';

/** Another delivery of the same business key is being processed right now; the message is retried later. */
export class DedupBusyError extends ReliableMqError {
  readonly code = 'DEDUP_BUSY';

  constructor(
    readonly group: string,
    readonly key: string,
  ) {
    super(`Key "${key}" of group "${group}" is being processed by another delivery; retrying later.`);
  }
}
