import {
  ForbiddenException,
  Injectable,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { timingSafeEqual } from 'node:crypto';
import {
  CSRF_HEADER,
  PERMISSION_METADATA,
  PUBLIC_METADATA,
  ROLES_METADATA,
  SESSION_COOKIE,
} from '../console.constants';
import type { ConsolePermission, ConsoleRole } from '../console-options.interface';
import { RefusalAudit } from '../audit/refusal-audit.service';
import { clientAddress, readCookie, type ConsolePrincipal, type ConsoleRequest } from '../http/console-request';
import { addressBucket } from './address-bucket';
import { hasPermission, hasRole } from './roles.decorator';
import { SessionService } from './session.service';
import { UserDirectory } from './user-directory.service';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Every console route passes here (it is set on each console controller, never globally, so the host app's own
 * routes are untouched):
 * 1. who: a bearer token, or the session cookie; nobody gets 401;
 * 2. CSRF: a state-changing request on a session must echo the session's token in `x-csrf-token` (403 otherwise).
 *    Token requests carry no ambient credential, so they need none;
 * 3. the route's role (viewer < operator < admin), 403 below it.
 *
 * Every 403 is audited, aggregated per caller, route and hour (see RefusalAudit), so probing is visible and a flood
 * of refusals cannot fill the log.
 */
@Injectable()
export class ConsoleAuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly sessions: SessionService,
    private readonly users: UserDirectory,
    private readonly refusals: RefusalAudit,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_METADATA, targets)) return true;
    const request = context.switchToHttp().getRequest<ConsoleRequest>();

    const authorization = request.headers.authorization;
    if (typeof authorization === 'string' && /^bearer\s/i.test(authorization)) {
      const principal = this.users.authenticateToken(authorization.slice(7).trim());
      if (!principal) throw new UnauthorizedException('The bearer token is not valid.');
      request.consolePrincipal = principal;
    } else {
      const id = readCookie(request, SESSION_COOKIE);
      const session = id === undefined ? null : this.sessions.resolve(id);
      const role = session ? this.users.roleOf(session.username) : undefined;
      if (!session || !role) throw new UnauthorizedException('Log in to use the console.');
      request.consolePrincipal = {
        name: session.username,
        role,
        via: 'session',
        csrfToken: session.csrfToken,
        permissions: this.users.permissionsOf(session.username),
      };
      request.consoleSessionId = id;
      if (!SAFE_METHODS.has(request.method ?? 'GET') && !csrfMatches(request.headers[CSRF_HEADER], session.csrfToken)) {
        this.refused(request, request.consolePrincipal, { why: 'csrf' });
        throw new ForbiddenException(
          `This request changes state and needs the page's CSRF token in the ${CSRF_HEADER} header.`,
        );
      }
    }

    const needed = this.reflector.getAllAndOverride<ConsoleRole | undefined>(ROLES_METADATA, targets) ?? 'viewer';
    if (!hasRole(request.consolePrincipal, needed)) {
      this.refused(request, request.consolePrincipal, { why: 'role', needed });
      throw new ForbiddenException(`This needs the ${needed} role; you are ${request.consolePrincipal.role}.`);
    }
    const permission = this.reflector.getAllAndOverride<ConsolePermission | undefined>(PERMISSION_METADATA, targets);
    if (permission && !hasPermission(request.consolePrincipal, permission)) {
      this.refused(request, request.consolePrincipal, { why: 'permission', needed: permission });
      throw new ForbiddenException(
        `This needs the ${permission} permission, which only the console's configuration gives; you do not have it.`,
      );
    }
    return true;
  }

  private refused(request: ConsoleRequest, principal: ConsolePrincipal, details: Record<string, unknown>): void {
    const path = (request.originalUrl ?? request.url ?? '').split('?')[0]!.slice(0, 300);
    this.refusals.record({
      action: 'access.refused',
      actor: principal.name,
      role: principal.role,
      target: `${request.method ?? 'GET'} ${path} from ${addressBucket(clientAddress(request))}`,
      outcome: 'refused',
      details: { status: 403, ...details },
    });
  }
}

function csrfMatches(sent: string | string[] | undefined, expected: string): boolean {
  if (typeof sent !== 'string') return false;
  const a = Buffer.from(sent, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
