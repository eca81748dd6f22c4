import {
  ForbiddenException,
  HttpException,
  HttpStatus,
  Inject,
  Injectable,
  UnauthorizedException,
} from '@nestjs/common';
import { AuditLog } from '../audit/audit-log.service';
import { RefusalAudit } from '../audit/refusal-audit.service';
import { CONSOLE_MOUNT_PATH, CONSOLE_OPTIONS, SESSION_COOKIE } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import {
  clientAddress,
  type ConsolePrincipal,
  type ConsoleRequest,
  type ConsoleResponse,
} from '../http/console-request';
import { mountBase } from '../http/mount-path';
import { addressBucket } from './address-bucket';
import { crossSiteLoginProblem } from './login-origin';
import { LoginThrottle } from './login-throttle.service';
import { PasswordCheckGate, PasswordChecksBusyException } from './password-check-gate.service';
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
    private readonly gate: PasswordCheckGate,
    private readonly audit: AuditLog,
    private readonly refusals: RefusalAudit,
  ) {}

  /**
   * Checks the password, starts a session and sets its cookie. 401 on a wrong login; 403 for a login sent from
   * another site; 429 when throttled; 503 when too many passwords are being checked at once. The attempt is counted
   * before the password is hashed (see LoginThrottle), so parallel guesses cannot outrun the limit.
   */
  async login(
    username: string,
    password: string,
    request: ConsoleRequest,
    response: ConsoleResponse,
    via: { form: boolean; formToken?: unknown } = { form: false },
  ): Promise<ConsolePrincipal & { csrfToken: string; expiresAt: number }> {
    const address = addressBucket(clientAddress(request));
    const actor = username.slice(0, 64);
    const crossSite = crossSiteLoginProblem(request, via.form, via.formToken);
    if (crossSite) {
      this.refusals.record({
        action: 'auth.login.refused',
        actor,
        role: 'none',
        target: `console from ${address}`,
        outcome: 'refused',
        details: { status: 403, why: crossSite },
      });
      throw new ForbiddenException(crossSite);
    }
    const ticket = this.throttle.reserve(username, address);
    if ('retryAfterMs' in ticket) {
      const seconds = Math.max(1, Math.ceil(ticket.retryAfterMs / 1000));
      this.refusals.record({
        action: 'auth.login.throttled',
        actor,
        role: 'none',
        target: `console from ${address}`,
        outcome: 'refused',
        details: { status: 429, limit: ticket.kind },
      });
      response.setHeader('Retry-After', String(seconds));
      throw new HttpException(
        ticket.kind === 'address-busy'
          ? `Another login from your address is being checked; try again in ${seconds} s.`
          : `Too many failed logins; try again in ${seconds} s.`,
        HttpStatus.TOO_MANY_REQUESTS,
      );
    }
    let principal: ConsolePrincipal | null;
    try {
      principal = await this.gate.run(ticket.knownAddress ? 'known' : 'other', () =>
        this.users.authenticate(username, password),
      );
    } catch (error) {
      this.throttle.settle(ticket, 'unchecked');
      if (error instanceof PasswordChecksBusyException) {
        this.refusals.record({
          action: 'auth.login.busy',
          actor,
          role: 'none',
          target: `console from ${address}`,
          outcome: 'refused',
          details: { status: 503 },
        });
        response.setHeader('Retry-After', String(error.retryAfterSeconds));
      }
      throw error;
    }
    if (!principal) {
      this.throttle.settle(ticket, 'failed');
      this.refusals.record({
        action: 'auth.login',
        actor,
        role: 'none',
        target: `console from ${address}`,
        outcome: 'failed',
      });
      throw new UnauthorizedException('Wrong username or password.');
    }
    this.throttle.settle(ticket, 'succeeded');
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

  /** Whether cookies set for this request get `Secure`. */
  secureCookies(request: ConsoleRequest): boolean {
    return this.options.secureCookies === 'auto' ? request.secure === true : this.options.secureCookies;
  }

  private cookie(request: ConsoleRequest, value: string, maxAgeSeconds: number): string {
    const secure = this.secureCookies(request);
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
