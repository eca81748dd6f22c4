import type { LoggerService, LogLevel } from '@nestjs/common';
import type {
  EmbeddedTransportOptions,
  RabbitMqTransportOptions,
  RelayOptions,
  RemoteTransportOptions,
} from '@reliable-mq/nestjs';

export interface OrderServiceOptions {
  /** The service's SQLite file, e.g. `data/orders.sqlite`; not used when `databaseUrl` is set. */
  databaseFile: string;
  /** A PostgreSQL URL (`postgres://user@host:5432/db`): the service keeps its tables there instead of in SQLite. */
  databaseUrl?: string;
  /** PostgreSQL schema of the service's tables, created when missing. Default `order_service`. */
  databaseSchema?: string;
  /**
   * The broker. The sample passes `{ kind: 'embedded', sharedEngine }`, `{ kind: 'rabbitmq', url }`, or
   * `{ kind: 'remote', url, token }` when each service runs in its own process (apps/sample/processes.ts); the
   * service's topics are added to it.
   */
  transport: EmbeddedTransportOptions | RabbitMqTransportOptions | RemoteTransportOptions;
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
