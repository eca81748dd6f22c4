import {
  BadRequestException,
  Inject,
  Injectable,
  PayloadTooLargeException,
  UnsupportedMediaTypeException,
  type NestMiddleware,
} from '@nestjs/common';
import { CONSOLE_MOUNT_PATH, CONSOLE_OPTIONS } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import type { ConsoleRequest, ConsoleResponse } from './console-request';
import { mountBase } from './mount-path';

const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE']);

/**
 * Reads request bodies of console routes with the console's own limit, whatever the host app's body parser is
 * set to: a declared or actual size above `bodyLimitBytes` is answered 413 before anything is parsed. JSON is the
 * only format of the API (415 otherwise): a page on another site can send a form (urlencoded, multipart or
 * text/plain) anywhere without asking, but a JSON body only after a CORS preflight the console never grants. The
 * one exception is the login form page, which works without script and checks where it was sent from.
 *
 * When the host app's body parser has already read the body, its limit applied; the declared length is still
 * checked here, so an oversized request is refused either way.
 */
@Injectable()
export class BodyReaderMiddleware implements NestMiddleware {
  constructor(
    @Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions,
    @Inject(CONSOLE_MOUNT_PATH) private readonly mount: string,
  ) {}

  async use(request: ConsoleRequest, _response: ConsoleResponse, next: () => void): Promise<void> {
    const limit = this.options.bodyLimitBytes;
    const declared = Number(request.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared > limit) {
      request.resume();
      throw new PayloadTooLargeException(`The request body is larger than the console's limit of ${limit} bytes.`);
    }
    const alreadyParsed = (request as { _body?: boolean })._body === true || request.readableEnded;
    if (BODYLESS.has(request.method ?? 'GET') || alreadyParsed || request.consoleBodyRead) {
      next();
      return;
    }
    request.consoleBodyRead = true;
    const raw = await readLimited(request, limit);
    if (raw.length === 0) {
      request.body = undefined;
      next();
      return;
    }
    const type = String(request.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim()
      .toLowerCase();
    const text = raw.toString('utf8');
    if (type === 'application/json') {
      try {
        request.body = JSON.parse(text) as unknown;
      } catch (error) {
        throw new BadRequestException(`The request body is not valid JSON: ${(error as Error).message}`);
      }
    } else if (type === 'application/x-www-form-urlencoded' && this.isLoginForm(request)) {
      request.body = Object.fromEntries(new URLSearchParams(text));
    } else {
      throw new UnsupportedMediaTypeException('Send the request body as application/json.');
    }
    next();
  }

  private isLoginForm(request: ConsoleRequest): boolean {
    const path = (request.originalUrl ?? request.url ?? '').split('?')[0]!;
    return request.method === 'POST' && path === `${mountBase(request, this.mount)}/login`;
  }
}

function readLimited(request: ConsoleRequest, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (error?: Error): void => {
      if (done) return;
      done = true;
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
      if (error) {
        // Keep the socket readable so the 413 can be written; the rest of the body is discarded.
        request.resume();
        reject(error);
      } else {
        resolve(Buffer.concat(chunks));
      }
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        finish(new PayloadTooLargeException(`The request body is larger than the console's limit of ${limit} bytes.`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => finish();
    const onError = (error: Error): void =>
      finish(new BadRequestException(`The request body could not be read: ${error.message}`));
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
  });
}
