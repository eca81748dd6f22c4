import {
  Catch,
  HttpException,
  PayloadTooLargeException,
  ValidationPipe,
  type ArgumentsHost,
  type HttpServer,
} from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';

/**
 * JSON bodies up to `bodyLimit`, and request validation: unknown fields, missing fields and wrong types are
 * answered 400 with one message per problem.
 */
export function setUpHttp(app: NestExpressApplication, bodyLimit: string): void {
  app.useBodyParser('json', { limit: bodyLimit });
  app.useGlobalFilters(new RequestBodyErrorFilter(app.getHttpAdapter(), bodyLimit));
  app.useGlobalPipes(
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      forbidUnknownValues: true,
    }),
  );
}

/**
 * The body parser's refusals (too large, unsupported charset...) are the client's mistakes: answer them as such,
 * instead of logging them as server errors. Nest already turns malformed JSON into a 400.
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
