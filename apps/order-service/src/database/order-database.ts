import type { DataSource } from 'typeorm';
import { openServiceDatabase, type ServiceDatabaseLocation } from '../../../shared/src/service-database';
import { OrderHistoryEntity } from '../orders/order-history.entity';
import { OrderEntity } from '../orders/order.entity';
import { CreateOrders1710000000001 } from './migrations/1710000000001-create-orders';
import { CreateOrdersPostgres1710000000001 } from './migrations/1710000000001-create-orders.postgres';

/** Where the order service keeps its data: a SQLite file, or a schema of a PostgreSQL database when `url` is set. */
export type OrderDatabaseLocation = ServiceDatabaseLocation;

/** Opens the order service's database (a string is a SQLite file) and applies the service's own migrations. */
export async function openOrderDatabase(where: string | OrderDatabaseLocation): Promise<DataSource> {
  const location = typeof where === 'string' ? { file: where, schema: 'order_service' } : where;
  return openServiceDatabase(location, {
    entities: [OrderEntity, OrderHistoryEntity],
    sqliteMigrations: [CreateOrders1710000000001],
    postgresMigrations: [CreateOrdersPostgres1710000000001],
    migrationsTableName: 'order_service_migrations',
    postgresPoolSize: 20,
  });
}
