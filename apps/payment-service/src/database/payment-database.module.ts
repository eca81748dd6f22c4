import { Module, type DynamicModule } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { PaymentDatabaseCloser, openPaymentDatabase } from './payment-database';
import { TransactionEndWatcher } from './transaction-end-watcher';

/** Provides the payment service's DataSource to the service and to ReliableMqModule.forRootAsync. */
@Module({})
export class PaymentDatabaseModule {
  static forRoot(databaseFile: string): DynamicModule {
    return {
      module: PaymentDatabaseModule,
      providers: [
        { provide: DataSource, useFactory: () => openPaymentDatabase(databaseFile) },
        PaymentDatabaseCloser,
        TransactionEndWatcher,
      ],
      exports: [DataSource, TransactionEndWatcher],
    };
  }
}
