import { ReliableMqError } from '@reliable-mq/engine';

/** Options or handler declarations that cannot work; raised at startup, never at message time. */
export class ConfigurationError extends ReliableMqError {
  readonly code = 'CONFIGURATION';

  constructor(message: string) {
    super(message);
  }
}
