import { ProtocolErrorCode } from './protocol-constants';

/** A byte stream that is not a sequence of valid frames. The connection that produced it cannot continue. */
export class FrameError extends Error {
  constructor(
    readonly code: ProtocolErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'FrameError';
  }

  /** `error` itself when it is a FrameError, else a BAD_FRAME that names it. */
  static of(error: unknown): FrameError {
    return error instanceof FrameError ? error : new FrameError(ProtocolErrorCode.BAD_FRAME, String(error));
  }
}
