import type { DataSource } from 'typeorm';
import { openServiceDatabase, type ServiceDatabaseLocation } from '../../../shared/src/service-database';
import { PaymentEntity } from '../payments/payment.entity';
import { CreatePayments1710000000101 } from './migrations/1710000000101-create-payments';
import { CreatePaymentsPostgres1710000000101 } from './migrations/1710000000101-create-payments.postgres';

/** Where the payment service keeps its data: a SQLite file, or a schema of a PostgreSQL database when `url` is set. */
export type PaymentDatabaseLocation = ServiceDatabaseLocation;

/**
 * Opens the payment service's database (a string is a SQLite file) and applies the service's own migrations.
 *
 * On PostgreSQL the pool is larger than the consumer's prefetch (32): each handler holds a connection for its
 * transaction (the `db` dedup inbox row and the payment) while its transactional message takes another one.
 */
export async function openPaymentDatabase(where: string | PaymentDatabaseLocation): Promise<DataSource> {
  const location = typeof where === 'string' ? { file: where, schema: 'payment_service' } : where;
  return openServiceDatabase(location, {
    entities: [PaymentEntity],
    sqliteMigrations: [CreatePayments1710000000101],
    postgresMigrations: [CreatePaymentsPostgres1710000000101],
    migrationsTableName: 'payment_service_migrations',
    postgresPoolSize: 48,
  });
}
