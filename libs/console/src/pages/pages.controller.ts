import { Body, Get, Header, HttpException, Param, Post, Query, Req, Res, NotFoundException } from '@nestjs/common';
import { AuthService } from '../auth/auth.service';
import { PRE_SESSION_FIELD, preSessionToken } from '../auth/login-origin';
import { PublicRoute } from '../auth/roles.decorator';
import type { ConsoleRequest, ConsoleResponse } from '../http/console-request';
import { appendSetCookie } from '../http/console-request';
import { ConsoleAssets } from './console-assets';
import { ConsolePages, HTML } from './console-pages.decorator';
import { loginPage } from './layout';
import { PageContexts } from './page-contexts.service';
import { safeNext } from './safe-urls';

/**
 * The pages that belong to no feature folder: the front end's assets and the login form. Each feature's own page
 * controller sits next to its JSON controller (outbox, dead letters, audit, admin, overview, backlog, transactions).
 */
@ConsolePages()
export class PagesController {
  constructor(
    private readonly contexts: PageContexts,
    private readonly assets: ConsoleAssets,
    private readonly auth: AuthService,
  ) {}

  @Get('assets/:file')
  @PublicRoute()
  asset(@Param('file') file: string, @Res() response: ConsoleResponse): void {
    const asset = this.assets.get(file);
    if (!asset) throw new NotFoundException(`There is no asset ${file}.`);
    response.setHeader('Content-Type', asset.type);
    // Names carry a hash of the content: a new build gets new names, so a copy never needs checking again.
    response.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    response.setHeader('ETag', asset.etag);
    response.end(asset.body);
  }

  @Get('login')
  @PublicRoute()
  @Header('Content-Type', HTML)
  loginForm(
    @Req() request: ConsoleRequest,
    @Res({ passthrough: true }) response: ConsoleResponse,
    @Query('next') next: unknown,
  ): string {
    const base = this.base(request);
    const token = this.preSessionToken(request, response);
    return loginPage(base, this.assets.bundle, safeNext(base, next), null, token);
  }

  @Post('login')
  @PublicRoute()
  async login(
    @Req() request: ConsoleRequest,
    @Res() response: ConsoleResponse,
    @Body() body: Record<string, unknown> | undefined,
  ): Promise<void> {
    const base = this.base(request);
    const next = safeNext(base, body?.next);
    const username = typeof body?.username === 'string' ? body.username.slice(0, 64) : '';
    const password = typeof body?.password === 'string' ? body.password.slice(0, 1024) : '';
    try {
      if (!username || !password) throw new HttpException('Enter a username and a password.', 400);
      await this.auth.login(username, password, request, response, {
        form: true,
        formToken: body?.[PRE_SESSION_FIELD],
      });
    } catch (error) {
      const status = error instanceof HttpException ? error.getStatus() : 500;
      const message = error instanceof HttpException ? error.message : 'Logging in failed.';
      const token = this.preSessionToken(request, response);
      response.status(status);
      response.setHeader('Content-Type', HTML);
      response.end(loginPage(base, this.assets.bundle, next, message, token));
      return;
    }
    response.redirect(303, next);
  }

  private base(request: ConsoleRequest): string {
    return this.contexts.base(request);
  }

  /** The login form's pre-session token; sets its cookie when the browser has none yet. */
  private preSessionToken(request: ConsoleRequest, response: ConsoleResponse): string {
    const { token, setCookie } = preSessionToken(
      request,
      `${this.base(request)}/login`,
      this.auth.secureCookies(request),
    );
    if (setCookie) appendSetCookie(response, setCookie);
    return token;
  }
}
