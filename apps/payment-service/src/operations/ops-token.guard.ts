import {
  ForbiddenException,
  Inject,
  Injectable,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** The token the operations endpoints that change state require; null turns them off. */
export const OPS_TOKEN = Symbol('OPS_TOKEN');

/**
 * Guards the operations that change state (resending a dead letter). The token travels in the `authorization` header
 * (`Bearer <token>`): no page on another site can set that header without a CORS preflight, which the service never
 * grants, and a page that reached the service through DNS rebinding does not know the token. Binding to 127.0.0.1
 * alone would not stop either.
 */
@Injectable()
export class OpsTokenGuard implements CanActivate {
  private readonly digest: Buffer | null;

  constructor(@Inject(OPS_TOKEN) token: string | null) {
    this.digest = token ? sha256(token) : null;
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.digest === null) {
      throw new ForbiddenException(
        'Operations that change state are off: start the payment service with OPS_TOKEN set (npm start sets it).',
      );
    }
    const header = context.switchToHttp().getRequest<IncomingMessage>().headers.authorization ?? '';
    const presented = /^Bearer (.+)$/i.exec(header)?.[1];
    if (presented === undefined || !timingSafeEqual(sha256(presented), this.digest)) {
      throw new UnauthorizedException(
        'Send the operations token as "authorization: Bearer <token>" (OPS_TOKEN; npm start keeps it in data/ops-token).',
      );
    }
    return true;
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
