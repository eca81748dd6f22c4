import { ReliableMqError } from './reliable-mq.error';

export class SchemaVersionError extends ReliableMqError {
  readonly code = 'SCHEMA_TOO_NEW';

  constructor(
    readonly found: number,
    readonly supported: number,
    readonly path: string,
  ) {
    super(
      `The data at ${path} uses schema version ${found}, but this engine supports up to ${supported}. Upgrade ReliableMQ before opening it; it was not modified.`,
    );
  }
}
