import type { ProtocolErrorCode } from './protocol-constants';

/** An error the server raises about the protocol itself (a bad request, a closed subscription). */
export class ProtocolError extends Error {
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
    readonly fatal = false,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}
