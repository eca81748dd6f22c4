import type { DynamicModule } from '@nestjs/common';
import { ReliableMqModule, type ReliableMqModuleOptions } from '@reliable-mq/nestjs';
import { DataSource } from 'typeorm';
import { withServiceTopics, type ServiceBaseOptions } from './service-options';

/** What a sample service adds to the ReliableMQ options its configuration gives. */
export type ServiceMessaging = { producerGroup: string; topics: readonly string[] } & Omit<
  ReliableMqModuleOptions,
  'producerGroup' | 'dataSource' | 'transport'
>;

/**
 * The service's database module, and ReliableMqModule on that database: the framework's tables created by its
 * migrations, the service's topics added to the configured transport.
 */
export function databaseAndReliableMq(
  database: DynamicModule,
  options: ServiceBaseOptions,
  { producerGroup, topics, ...messaging }: ServiceMessaging,
): DynamicModule[] {
  return [
    database,
    ReliableMqModule.forRootAsync({
      imports: [database],
      inject: [DataSource],
      useFactory: (dataSource: DataSource) => ({
        producerGroup,
        dataSource,
        runMigrations: true,
        transport: withServiceTopics(options.transport, topics),
        relay: options.relay,
        ...messaging,
      }),
    }),
  ];
}
