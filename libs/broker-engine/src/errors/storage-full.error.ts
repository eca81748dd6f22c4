import { ReliableMqError } from './reliable-mq.error';

export class StorageFullError extends ReliableMqError {
  readonly code = 'STORAGE_FULL';

  constructor(readonly limitBytes: number | null) {
    super(
      `The broker database is full${limitBytes === null ? '' : ` (maxDatabaseBytes ${limitBytes})`}; nothing in the batch was stored. Publishing resumes once consumed messages are deleted by retention or the limit is raised.`,
    );
  }
}
