import { ReliableMqError } from './reliable-mq.error';

export class EngineClosedError extends ReliableMqError {
  readonly code = 'ENGINE_CLOSED';

  constructor(operation: string) {
    super(`Cannot ${operation}: the broker engine is closed. Open a new engine on the data directory.`);
  }
}
