import type {
  EmbeddedTransportOptions,
  RabbitMqTransportOptions,
  RelayOptions,
  RemoteTransportOptions,
} from '@reliable-mq/nestjs';
import type { ServiceDatabaseLocation } from './service-database';

/**
 * The broker of a sample service. The sample passes `{ kind: 'embedded', sharedEngine }`, `{ kind: 'rabbitmq', url }`,
 * or `{ kind: 'remote', url, token }` when each service runs in its own process (apps/sample/start-processes.ts); the
 * service's topics are added to it.
 */
export type ServiceTransportOptions = EmbeddedTransportOptions | RabbitMqTransportOptions | RemoteTransportOptions;

/** What the sample services are configured with alike: their database, broker and relay. */
export interface ServiceBaseOptions {
  /** The service's SQLite file, e.g. `data/orders.sqlite`; not used when `databaseUrl` is set. */
  databaseFile: string;
  /** A PostgreSQL URL (`postgres://user@host:5432/db`): the service keeps its tables there instead of in SQLite. */
  databaseUrl?: string;
  /** PostgreSQL schema of the service's tables, created when missing. Default: the service's name, e.g. `order_service`. */
  databaseSchema?: string;
  transport: ServiceTransportOptions;
  relay?: RelayOptions;
}

/** The transport with the service's own topics added to those already configured. */
export function withServiceTopics(
  transport: ServiceTransportOptions,
  topics: readonly string[],
): ServiceTransportOptions {
  return { ...transport, topics: [...(transport.topics ?? []), ...topics] };
}

/** The service's database location from its options, with the service's default PostgreSQL schema. */
export function serviceDatabaseLocation(options: ServiceBaseOptions, defaultSchema: string): ServiceDatabaseLocation {
  return { file: options.databaseFile, url: options.databaseUrl, schema: options.databaseSchema ?? defaultSchema };
}
