import { ConfigurationError } from './configuration.error';

/**
 * A broker object exists with other arguments than this application declares (RabbitMQ answers
 * PRECONDITION_FAILED). Raised when the topology is declared, at startup or subscribe time.
 */
export class TopologyMismatchError extends ConfigurationError {
  constructor(
    message: string,
    readonly objectName: string,
  ) {
    super(message);
  }
}
