import { Module, type DynamicModule } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { PaymentDatabaseCloser, openPaymentDatabase, type PaymentDatabaseLocation } from './payment-database';
import { TransactionEndWatcher } from './transaction-end-watcher';

/** Provides the payment service's DataSource to the service and to ReliableMqModule.forRootAsync. */
@Module({})
export class PaymentDatabaseModule {
  static forRoot(location: PaymentDatabaseLocation): DynamicModule {
    return {
      module: PaymentDatabaseModule,
      providers: [
        { provide: DataSource, useFactory: () => openPaymentDatabase(location) },
        PaymentDatabaseCloser,
        TransactionEndWatcher,
      ],
      exports: [DataSource, TransactionEndWatcher],
    };
  }
}
