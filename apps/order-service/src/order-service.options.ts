import type { LoggerService, LogLevel } from '@nestjs/common';
import type { EmbeddedTransportOptions, RelayOptions } from '@reliable-mq/nestjs';

export interface OrderServiceOptions {
  /** The service's SQLite file, e.g. `data/orders.sqlite`. */
  databaseFile: string;
  /** The broker. The sample passes `{ kind: 'embedded', sharedEngine }`; the service's topics are added to it. */
  transport: EmbeddedTransportOptions;
  relay?: RelayOptions;
}

export interface OrderServiceAppOptions extends OrderServiceOptions {
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
