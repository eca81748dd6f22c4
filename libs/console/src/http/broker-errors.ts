import {
  BadGatewayException,
  BadRequestException,
  ConflictException,
  HttpException,
  NotFoundException,
  PayloadTooLargeException,
  ServiceUnavailableException,
} from '@nestjs/common';

/**
 * Maps what a transport rejected with to an HTTP answer. Transports share error codes (`code` on ReliableMqError),
 * so this works for every one of them; anything unknown is the broker's problem, 502.
 */
export function toHttpError(error: unknown): HttpException {
  if (error instanceof HttpException) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  switch (code) {
    case 'DEAD_LETTER_NOT_FOUND':
    case 'TRANSACTION_STATE':
      return new ConflictException(message);
    case 'TRANSACTION_NOT_FOUND':
      return new NotFoundException(message);
    case 'INVALID_ARGUMENT':
    case 'INVALID_NAME':
    case 'UNKNOWN_TOPIC':
      return new BadRequestException(message);
    case 'MESSAGE_TOO_LARGE':
    case 'BATCH_TOO_LARGE':
      return new PayloadTooLargeException(message);
    case 'ENGINE_CLOSED':
    case 'STORAGE_FULL':
    case 'INSUFFICIENT_DISK_SPACE':
      return new ServiceUnavailableException(message);
    default:
      return new BadGatewayException(`The broker refused the operation: ${message}`);
  }
}

/** Awaits a transport call, rethrowing its failure as an HTTP error. */
export async function brokerCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw toHttpError(error);
  }
}
