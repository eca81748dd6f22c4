import { Module, type DynamicModule } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ServiceDatabaseCloser } from '../../../shared/src/service-database';
import { openOrderDatabase, type OrderDatabaseLocation } from './order-database';

/** Provides the order service's DataSource to the service and to ReliableMqModule.forRootAsync. */
@Module({})
export class OrderDatabaseModule {
  static forRoot(location: OrderDatabaseLocation): DynamicModule {
    return {
      module: OrderDatabaseModule,
      providers: [{ provide: DataSource, useFactory: () => openOrderDatabase(location) }, ServiceDatabaseCloser],
      exports: [DataSource],
    };
  }
}
