import type { DynamicModule, INestApplication, LoggerService, LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { EscapingConsoleLogger } from './escaping-console-logger';
import { setUpHttp } from './http-setup';

/** How a sample service is served over HTTP. */
export interface ServiceHostOptions {
  /** 0 picks a free port; read it back from the server. */
  port: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Largest accepted JSON body. Default 16 KiB. */
  bodyLimit?: string;
  /** Let Nest close the app on SIGINT/SIGTERM. Default true; the sample turns it off and closes both apps itself. */
  shutdownHooks?: boolean;
  logger?: LoggerService | LogLevel[] | false;
}

/** Creates a sample service from its root module and starts listening; its own Nest application, sharing nothing but the broker. */
export async function createServiceApp(module: DynamicModule, options: ServiceHostOptions): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(module, {
    bodyParser: false,
    abortOnError: false,
    // A client's keep-alive connection would otherwise hold the shutdown, and the service would keep taking orders.
    forceCloseConnections: true,
    logger: serviceLogger(options.logger),
  });
  try {
    setUpHttp(app, options.bodyLimit ?? '16kb');
    if (options.shutdownHooks ?? true) app.enableShutdownHooks();
    await app.listen(options.port, options.host ?? '127.0.0.1');
  } catch (error) {
    await app.close().catch(() => undefined);
    throw error;
  }
  return app;
}

/**
 * Nest's console logger with values escaped, unless the caller brings its own logger or turns logging off. With
 * LOG_FORMAT=json it writes one JSON object per line (Nest's `json` mode: level, pid, timestamp, context, message).
 */
function serviceLogger(logger: ServiceHostOptions['logger']): LoggerService | false {
  const json = process.env.LOG_FORMAT?.trim() === 'json';
  if (logger === undefined) return new EscapingConsoleLogger({ json });
  if (Array.isArray(logger)) return new EscapingConsoleLogger({ logLevels: logger, json });
  return logger;
}
