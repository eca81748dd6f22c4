import {
  BadRequestException,
  Catch,
  HttpException,
  PayloadTooLargeException,
  ValidationPipe,
  type ArgumentMetadata,
  type ArgumentsHost,
  type HttpServer,
  type PipeTransform,
} from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/** Deeper JSON than any of the services' bodies needs; validation walks it recursively. */
export const MAX_JSON_DEPTH = 32;

/**
 * JSON bodies up to `bodyLimit` and nothing else, and request validation: unknown fields, missing fields and wrong
 * types are answered 400 with one message per problem. Refused before any of it runs: a body that is not JSON (415,
 * which also keeps out what a form or a script on another site can send without asking), a declared length over the
 * limit (413 at once, without waiting for the body), and JSON nested deeper than `MAX_JSON_DEPTH` (400).
 */
export function setUpHttp(app: NestExpressApplication, bodyLimit: string): void {
  const limitBytes = parseByteSize(bodyLimit);
  limitServerTimeouts(app.getHttpServer() as Server);
  app.use((request: IncomingMessage, response: ServerResponse, next: () => void) => {
    const refusal = refuseBeforeReading(request, limitBytes, bodyLimit);
    if (!refusal) return next();
    // The rest of the body is not read: the connection closes once the answer is out.
    response.writeHead(refusal.statusCode, { 'content-type': 'application/json; charset=utf-8', connection: 'close' });
    response.end(JSON.stringify(refusal));
  });
  app.useBodyParser('json', { limit: bodyLimit, verify: refuseDeepJson });
  app.useGlobalFilters(new RequestBodyErrorFilter(app.getHttpAdapter(), bodyLimit));
  app.useGlobalPipes(
    new PrototypeKeysPipe(),
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      forbidUnknownValues: true,
    }),
  );
}

/**
 * Node checks its request timeouts only every 30 s by default, and waits 5 minutes for a whole request: a client
 * that sends a request slowly would hold its connection that long.
 */
function limitServerTimeouts(server: Server): void {
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  // Read when the server starts listening; not in the type definitions of every Node version.
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = 1_000;
}

interface Refusal {
  statusCode: number;
  error: string;
  message: string;
}

const BODYLESS_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE']);

function refuseBeforeReading(request: IncomingMessage, limitBytes: number, bodyLimit: string): Refusal | null {
  if (BODYLESS_METHODS.has(request.method ?? 'GET')) return null;
  const type = request.headers['content-type'];
  const length = request.headers['content-length'];
  const hasBody = (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
  if ((type !== undefined || hasBody) && !isJson(type)) {
    return {
      statusCode: 415,
      error: 'Unsupported Media Type',
      message: `Send the body as JSON, with content-type application/json${type ? `, not ${type.slice(0, 80)}` : ''}.`,
    };
  }
  if (length !== undefined && Number(length) > limitBytes) {
    return {
      statusCode: 413,
      error: 'Payload Too Large',
      message: `The request body is larger than the limit of ${bodyLimit}.`,
    };
  }
  return null;
}

function isJson(type: string | undefined): boolean {
  const essence = type?.split(';')[0]?.trim().toLowerCase();
  return essence === 'application/json' || (essence?.startsWith('application/') === true && essence.endsWith('+json'));
}

/** Counts bracket depth over the raw bytes, strings skipped, before the JSON is parsed: no recursion anywhere. */
function refuseDeepJson(_request: IncomingMessage, _response: ServerResponse, body: Buffer): void {
  let depth = 0;
  let inString = false;
  for (let at = 0; at < body.length; at++) {
    const byte = body[at];
    if (inString) {
      if (byte === 0x5c) at++;
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) inString = true;
    else if (byte === 0x7b || byte === 0x5b) {
      if (++depth > MAX_JSON_DEPTH) {
        throw Object.assign(new Error(`The JSON body is nested deeper than ${MAX_JSON_DEPTH} levels.`), {
          status: 400,
          type: 'entity.too.deep',
        });
      }
    } else if (byte === 0x7d || byte === 0x5d) depth--;
  }
}

/**
 * Keys that every object inherits (`constructor`, `__proto__`, `toString`…) pass class-validator's whitelist, which
 * looks them up in a plain object, and `__proto__` would replace an object's prototype when copied. They are refused
 * here, in bodies and query strings, at any depth, with the whitelist's own message.
 */
class PrototypeKeysPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if (metadata.type !== 'body' && metadata.type !== 'query') return value;
    const found = new Set<string>();
    const pending: unknown[] = [value];
    for (let visited = 0; pending.length > 0 && visited < 10_000; visited++) {
      const item = pending.pop();
      if (typeof item !== 'object' || item === null) continue;
      for (const key of Object.keys(item)) {
        if (key in Object.prototype) found.add(key);
        pending.push((item as Record<string, unknown>)[key]);
      }
    }
    if (found.size > 0) throw new BadRequestException([...found].map((key) => `property ${key} should not exist`));
    return value;
  }
}

/** `16kb`, `1mb`, `512` (bytes): what the body parser's `limit` accepts, in the forms the services use. */
function parseByteSize(text: string): number {
  const match = /^(\d+)\s*(b|kb|mb)?$/i.exec(text.trim());
  if (!match) throw new Error(`A body limit such as "16kb" is expected; got ${JSON.stringify(text)}.`);
  const unit = (match[2] ?? 'b').toLowerCase();
  return Number(match[1]) * (unit === 'mb' ? 1024 * 1024 : unit === 'kb' ? 1024 : 1);
}

/**
 * The body parser's refusals (too large, unsupported charset, too deep...) are the client's mistakes: answer them as
 * such, instead of logging them as server errors. Nest already turns malformed JSON into a 400.
 */
@Catch()
class RequestBodyErrorFilter extends BaseExceptionFilter {
  constructor(
    adapter: HttpServer,
    private readonly bodyLimit: string,
  ) {
    super(adapter);
  }

  override catch(exception: unknown, host: ArgumentsHost): void {
    const type = (exception as { type?: unknown } | null)?.type;
    if (type === 'entity.too.large') {
      return super.catch(
        new PayloadTooLargeException(`The request body is larger than the limit of ${this.bodyLimit}.`),
        host,
      );
    }
    const status = (exception as { status?: unknown } | null)?.status;
    if (typeof type === 'string' && typeof status === 'number' && status >= 400 && status < 500) {
      return super.catch(new HttpException((exception as Error).message, status), host);
    }
    return super.catch(exception, host);
  }
}
