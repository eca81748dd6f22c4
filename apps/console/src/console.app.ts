import { Module, type DynamicModule, type INestApplication, type LoggerService, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { ReliableMqConsoleModule, type ReliableMqConsoleOptions } from '@reliable-mq/console';
import type { AddressInfo } from 'node:net';

export interface ConsoleAppOptions {
  console: ReliableMqConsoleOptions;
  /** Mount path. Default `/console`. */
  path?: string;
  /** 0 picks a free port. */
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Let Nest close the app on SIGINT/SIGTERM. Default true; the sample closes its apps itself. */
  shutdownHooks?: boolean;
  /**
   * Express's `trust proxy`, for a console behind a TLS-terminating proxy: then `Secure` cookies and the client
   * address of the login throttle come from the proxy's headers. Default: trust no proxy.
   */
  trustProxy?: boolean | string;
  logger?: LoggerService | LogLevel[] | false;
}

@Module({})
class ConsoleAppModule {
  static forRoot(options: ConsoleAppOptions): DynamicModule {
    return {
      module: ConsoleAppModule,
      imports: [ReliableMqConsoleModule.forRoot({ ...options.console, path: options.path ?? '/console' })],
    };
  }
}

/**
 * The console as an application of its own. The console reads request bodies itself (with its own limit), so the
 * app's body parser is off. Behind a TLS-terminating proxy, set `trustProxy` so that cookies get the `Secure` flag.
 */
export async function createConsoleApp(options: ConsoleAppOptions): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(ConsoleAppModule.forRoot(options), {
    bodyParser: false,
    abortOnError: false,
    forceCloseConnections: true,
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
  try {
    app.disable('x-powered-by');
    // Trusting forwarded headers from anyone would let a client pick its own address and dodge the login throttle.
    if (options.trustProxy !== undefined) app.set('trust proxy', options.trustProxy);
    if (options.shutdownHooks ?? true) app.enableShutdownHooks();
    await app.listen(options.port, options.host ?? '127.0.0.1');
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error;
  }
  return app;
}

/** `http://host:port/console` of a listening console app. */
export function consoleUrlOf(app: INestApplication, host: string, path = '/console'): string {
  const { port } = app.getHttpServer().address() as AddressInfo;
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `http://${shown}:${port}/${path.replace(/^\/+|\/+$/g, '')}`;
}
