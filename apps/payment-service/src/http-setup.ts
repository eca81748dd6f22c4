import {
  BadRequestException,
  Catch,
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
 * The body parser's refusals are the client's mistakes: answer them as such (413, 400) with a sentence that says
 * what to change, instead of logging them as server errors.
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
      return super.catch(new PayloadTooLargeException(`The request body is larger than the limit of ${this.bodyLimit}.`), host);
    }
    if (type === 'entity.parse.failed') {
      return super.catch(new BadRequestException(`The request body is not valid JSON: ${(exception as Error).message}`), host);
    }
    return super.catch(exception, host);
  }
}
