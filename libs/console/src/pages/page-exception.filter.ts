import { Catch, HttpException, Inject, Logger, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import { CONSOLE_MOUNT_PATH } from '../console.constants';
import type { ConsoleRequest, ConsoleResponse } from '../http/console-request';
import { mountBase } from '../http/mount-path';
import { ConsoleAssets } from './console-assets';
import { messagePage } from './layout';

const TITLES: Record<number, string> = {
  400: 'Bad request',
  403: 'Not allowed',
  404: 'Not found',
  413: 'Too large',
  429: 'Too many attempts',
  503: 'Unavailable',
};

/**
 * Errors of HTML pages as pages: no session sends the browser to the login page (remembering where it was going),
 * other errors render a short page whose message is escaped like all content.
 */
@Catch()
export class PageExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('ReliableMqConsole');

  constructor(
    @Inject(CONSOLE_MOUNT_PATH) private readonly mount: string,
    private readonly assets: ConsoleAssets,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = http.getRequest<ConsoleRequest>();
    const response = http.getResponse<ConsoleResponse>();
    const base = mountBase(request, this.mount);
    const status = exception instanceof HttpException ? exception.getStatus() : 500;
    if (status === 401 && (request.method === 'GET' || request.method === 'HEAD')) {
      const next = request.originalUrl ?? request.url ?? base;
      response.redirect(303, `${base}/login?next=${encodeURIComponent(next)}`);
      return;
    }
    if (status >= 500)
      this.logger.error((exception as Error)?.message ?? String(exception), (exception as Error)?.stack);
    const message =
      exception instanceof HttpException
        ? messageOf(exception)
        : 'Something went wrong on the server; the details are in its log.';
    response.status(status);
    response.setHeader('Content-Type', 'text/html; charset=utf-8');
    const title = TITLES[status] ?? (status >= 500 ? 'Server error' : 'Error');
    response.end(messagePage(base, this.assets.bundle, title, message));
  }
}

function messageOf(exception: HttpException): string {
  const body = exception.getResponse();
  if (typeof body === 'string') return body;
  const message = (body as { message?: unknown }).message;
  return Array.isArray(message) ? message.join('; ') : String(message ?? exception.message);
}
