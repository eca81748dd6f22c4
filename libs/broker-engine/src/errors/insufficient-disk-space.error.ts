import { ReliableMqError } from './reliable-mq.error';

export class InsufficientDiskSpaceError extends ReliableMqError {
  readonly code = 'INSUFFICIENT_DISK_SPACE';

  constructor(
    readonly freeBytes: number,
    readonly floorBytes: number,
  ) {
    super(
      `Only ${freeBytes} bytes are free on the broker's disk; publishing needs at least ${floorBytes} (minFreeDiskBytes). Nothing in the batch was stored. Publishing resumes once space is freed.`,
    );
  }
}
