import { ReliableMqError } from './reliable-mq.error';

export class DataDirectoryUnusableError extends ReliableMqError {
  readonly code = 'DATA_DIR_UNUSABLE';

  constructor(
    readonly dataDir: string,
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(
      `The engine cannot use ${dataDir} as its data directory (dataDir; transport.dataDir in ReliableMqModule): ${reason}. It must be a directory this process can create and write, holding only the engine's files.`,
    );
    this.cause = cause;
  }
}
