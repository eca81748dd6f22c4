import { ReliableMqError } from './reliable-mq.error';

export class DataDirectoryInUseError extends ReliableMqError {
  readonly code = 'DATA_DIR_IN_USE';

  constructor(readonly dataDir: string) {
    super(
      `The data directory ${dataDir} is in use by another engine: another process (a second instance of this app, a standalone broker) or an engine of this process that was not closed. One engine owns a data directory: stop the other one, or give this one a dataDir of its own.`,
    );
  }
}
