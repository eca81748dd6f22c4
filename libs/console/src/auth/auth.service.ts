import { HttpException, HttpStatus, Inject, Injectable, UnauthorizedException } from '@nestjs/common';
import { AuditLog } from '../audit/audit-log.service';
import { CONSOLE_MOUNT_PATH, CONSOLE_OPTIONS, SESSION_COOKIE } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import {
  clientAddress,
  type ConsolePrincipal,
  type ConsoleRequest,
  type ConsoleResponse,
} from '../http/console-request';
import { mountBase } from '../http/mount-path';
import { LoginThrottle } from './login-throttle.service';
import { SessionService } from './session.service';
import { UserDirectory } from './user-directory.service';

/** Logging in and out, shared by the JSON API and the login form. */
@Injectable()
export class AuthService {
  constructor(
    @Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions,
    @Inject(CONSOLE_MOUNT_PATH) private readonly mount: string,
    private readonly users: UserDirectory,
    private readonly sessions: SessionService,
    private readonly throttle: LoginThrottle,
    private readonly audit: AuditLog,
  ) {}

  /** Checks the password, starts a session and sets its cookie; 401 on a wrong login, 429 when throttled. */
  async login(
    username: string,
    password: string,
    request: ConsoleRequest,
    response: ConsoleResponse,
  ): Promise<ConsolePrincipal & { csrfToken: string; expiresAt: number }> {
    const address = clientAddress(request);
    const keys = [`ip:${address}`, `user:${username}`];
    const wait = this.throttle.retryAfterMs(keys);
    if (wait > 0) {
      response.setHeader('Retry-After', String(Math.ceil(wait / 1000)));
      throw new HttpException(
        `Too many failed logins; try again in ${Math.ceil(wait / 1000)} s.`,
        HttpStatus.TOO_MANY_REQUESTS,
      );
    }
    const principal = await this.users.authenticate(username, password);
    if (!principal) {
      this.throttle.recordFailure(keys);
      this.audit.record({
        actor: username.slice(0, 64),
        role: 'none',
        action: 'auth.login',
        target: `console from ${address}`,
        count: 0,
        outcome: 'failed',
      });
      throw new UnauthorizedException('Wrong username or password.');
    }
    this.throttle.recordSuccess(`user:${username}`);
    const session = this.sessions.create(principal.name);
    response.setHeader('Set-Cookie', this.cookie(request, session.id, Math.floor(this.options.sessionTtlMs / 1000)));
    this.audit.record({
      actor: principal.name,
      role: principal.role,
      action: 'auth.login',
      target: `console from ${address}`,
      count: 0,
      outcome: 'ok',
    });
    return { ...principal, csrfToken: session.csrfToken, expiresAt: session.expiresAt };
  }

  logout(request: ConsoleRequest, response: ConsoleResponse): void {
    const principal = request.consolePrincipal;
    if (request.consoleSessionId) this.sessions.destroy(request.consoleSessionId);
    response.setHeader('Set-Cookie', this.cookie(request, '', 0));
    if (principal) {
      this.audit.record({
        actor: principal.name,
        role: principal.role,
        action: 'auth.logout',
        target: 'console',
        count: 0,
        outcome: 'ok',
      });
    }
  }

  private cookie(request: ConsoleRequest, value: string, maxAgeSeconds: number): string {
    const secure = this.options.secureCookies === 'auto' ? request.secure === true : this.options.secureCookies;
    return [
      `${SESSION_COOKIE}=${value}`,
      `Path=${mountBase(request, this.mount)}`,
      `Max-Age=${maxAgeSeconds}`,
      'HttpOnly',
      'SameSite=Strict',
      ...(secure ? ['Secure'] : []),
    ].join('; ');
  }
}
