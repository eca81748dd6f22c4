import { Module, type DynamicModule } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ServiceDatabaseCloser } from '../../../shared/src/service-database';
import { openPaymentDatabase, type PaymentDatabaseLocation } from './payment-database';
import { TransactionEndWatcher } from './transaction-end-watcher';

/** Provides the payment service's DataSource to the service and to ReliableMqModule.forRootAsync. */
@Module({})
export class PaymentDatabaseModule {
  static forRoot(location: PaymentDatabaseLocation): DynamicModule {
    return {
      module: PaymentDatabaseModule,
      providers: [
        { provide: DataSource, useFactory: () => openPaymentDatabase(location) },
        ServiceDatabaseCloser,
        TransactionEndWatcher,
      ],
      exports: [DataSource, TransactionEndWatcher],
    };
  }
}
