import { Controller, Get, Inject, InternalServerErrorException, type Type } from '@nestjs/common';
import { HttpAdapterHost, ModuleRef } from '@nestjs/core';
import { ApiExcludeEndpoint, ApiTags, DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { CONSOLE_MODULE_CLASS, CSRF_HEADER, SESSION_COOKIE } from '../console.constants';
import { ConsoleApi } from '../http/console-api.decorators';

/**
 * The console API's OpenAPI document, built from the controllers' decorators on first request. It is served by the
 * module itself (behind login, like everything else), so a host app needs no SwaggerModule setup of its own.
 */
@ApiTags('openapi')
@ConsoleApi()
@Controller('api')
export class OpenApiController {
  private document: OpenAPIObject | undefined;

  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly adapterHost: HttpAdapterHost,
    @Inject(CONSOLE_MODULE_CLASS) private readonly moduleClass: Type<unknown>,
  ) {}

  @Get('openapi.json')
  @ApiExcludeEndpoint()
  openApi(): OpenAPIObject {
    this.document ??= this.build();
    return this.document;
  }

  private build(): OpenAPIObject {
    // SwaggerModule reads the application's container and config; a module has no application object, so it is
    // given the same two things from the module's own container.
    const container = (this.moduleRef as unknown as { container?: { applicationConfig?: unknown } }).container;
    if (!container)
      throw new InternalServerErrorException('The Nest container is not reachable to build the OpenAPI document.');
    const app = {
      container,
      config: container.applicationConfig,
      getHttpAdapter: () => this.adapterHost.httpAdapter,
    };
    const config = new DocumentBuilder()
      .setTitle('ReliableMQ compensation console')
      .setDescription(
        'See, fix and replay stuck and dead messages. Every call needs a session cookie (POST api/auth/login) or a ' +
          `bearer token. With a session, state-changing calls must send the session's CSRF token in ${CSRF_HEADER}.`,
      )
      .setVersion('1')
      .addCookieAuth(SESSION_COOKIE)
      .addBearerAuth()
      .addApiKey({ type: 'apiKey', in: 'header', name: CSRF_HEADER }, CSRF_HEADER)
      .build();
    return SwaggerModule.createDocument(app as never, config, { include: [this.moduleClass] });
  }
}
