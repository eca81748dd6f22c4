import { Module, type DynamicModule } from '@nestjs/common';
import { ObservabilityModule } from '../../shared/src/observability.module';
import { databaseAndReliableMq } from '../../shared/src/service-module';
import { serviceDatabaseLocation } from '../../shared/src/service-options';
import { OrderDatabaseModule } from './database/order-database.module';
import { SqliteWriteLock } from './database/sqlite-write-lock';
import { ORDER_SERVICE_GROUP, ORDER_SERVICE_TOPICS } from './messages';
import type { OrderServiceOptions } from './order-service.options';
import { OrdersController } from './orders/orders.controller';
import { OrdersService } from './orders/orders.service';
import { PaymentResultsConsumer } from './payment-results/payment-results.consumer';

/**
 * The order service: `POST /orders` writes an order and `order.created` through the outbox; payment results move
 * the order to PAID or FAILED.
 */
@Module({})
export class OrderServiceModule {
  static forRoot(options: OrderServiceOptions): DynamicModule {
    const database = OrderDatabaseModule.forRoot(serviceDatabaseLocation(options, 'order_service'));
    return {
      module: OrderServiceModule,
      imports: [
        ...databaseAndReliableMq(database, options, {
          producerGroup: ORDER_SERVICE_GROUP,
          topics: ORDER_SERVICE_TOPICS,
          // Payment results are deduped on the order id in memory, and the order's status makes applying one
          // twice harmless after a restart. The `db` store is not used here: its inbox transactions would
          // overlap with this service's own transactions on SQLite's single connection (see SqliteWriteLock).
          dedup: { store: 'memory' },
        }),
        ObservabilityModule,
      ],
      controllers: [OrdersController],
      providers: [SqliteWriteLock, OrdersService, PaymentResultsConsumer],
    };
  }
}
