import type { ProtocolErrorCode } from './protocol-constants';

/** A byte stream that is not a sequence of valid frames. The connection that produced it cannot continue. */
export class FrameError extends Error {
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'FrameError';
  }
}
