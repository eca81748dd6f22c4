import { Module, type DynamicModule } from '@nestjs/common';
import { ReliableMqModule } from '@reliable-mq/nestjs';
import { DataSource } from 'typeorm';
import { PaymentDatabaseModule } from './database/payment-database.module';
import { FakePaymentGateway } from './gateway/fake-payment-gateway';
import { PAYMENT_SERVICE_GROUP, PAYMENT_SERVICE_TOPICS } from './messages';
import { DeadLettersController } from './operations/dead-letters.controller';
import { StatsController } from './operations/stats.controller';
import type { PaymentServiceOptions } from './payment-service.options';
import { ChargeOrderConsumer } from './payments/charge-order.consumer';
import { PaymentConfirmations } from './payments/payment-confirmations.service';
import { PaymentSucceededChecker } from './payments/payment-succeeded.checker';
import { PaymentsController } from './payments/payments.controller';

/**
 * The payment service: charges each `order.created` once (dedup on the order id, `db` store), publishes
 * `payment.succeeded` as a transactional message and `payment.failed` through the outbox.
 */
@Module({})
export class PaymentServiceModule {
  static forRoot(options: PaymentServiceOptions): DynamicModule {
    const database = PaymentDatabaseModule.forRoot({
      file: options.databaseFile,
      url: options.databaseUrl,
      schema: options.databaseSchema ?? 'payment_service',
    });
    return {
      module: PaymentServiceModule,
      imports: [
        database,
        ReliableMqModule.forRootAsync({
          imports: [database],
          inject: [DataSource],
          useFactory: (dataSource: DataSource) => ({
            producerGroup: PAYMENT_SERVICE_GROUP,
            dataSource,
            runMigrations: true,
            dedup: { store: 'db' },
            transport: {
              ...options.transport,
              topics: [...(options.transport.topics ?? []), ...PAYMENT_SERVICE_TOPICS],
            },
            relay: options.relay,
            consumers: { delayLevels: options.retryDelays, maxReconsumeTimes: options.maxRetries },
          }),
        }),
      ],
      controllers: [PaymentsController, DeadLettersController, StatsController],
      providers: [FakePaymentGateway, PaymentConfirmations, PaymentSucceededChecker, ChargeOrderConsumer],
    };
  }
}
