import { Module, type DynamicModule } from '@nestjs/common';
import { ObservabilityModule } from '../../shared/src/observability.module';
import { databaseAndReliableMq } from '../../shared/src/service-module';
import { serviceDatabaseLocation } from '../../shared/src/service-options';
import { PaymentDatabaseModule } from './database/payment-database.module';
import { FakePaymentGateway } from './gateway/fake-payment-gateway';
import { PAYMENT_SERVICE_GROUP, PAYMENT_SERVICE_TOPICS } from './messages';
import { DeadLettersController } from './operations/dead-letters.controller';
import { OPS_TOKEN, OpsTokenGuard } from './operations/ops-token.guard';
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
    const database = PaymentDatabaseModule.forRoot(serviceDatabaseLocation(options, 'payment_service'));
    return {
      module: PaymentServiceModule,
      imports: [
        ...databaseAndReliableMq(database, options, {
          producerGroup: PAYMENT_SERVICE_GROUP,
          topics: PAYMENT_SERVICE_TOPICS,
          dedup: { store: 'db' },
          consumers: { delayLevels: options.retryDelays, maxReconsumeTimes: options.maxRetries },
        }),
        ObservabilityModule,
      ],
      controllers: [PaymentsController, DeadLettersController, StatsController],
      providers: [
        FakePaymentGateway,
        PaymentConfirmations,
        PaymentSucceededChecker,
        ChargeOrderConsumer,
        { provide: OPS_TOKEN, useValue: options.opsToken ?? null },
        OpsTokenGuard,
      ],
    };
  }
}
