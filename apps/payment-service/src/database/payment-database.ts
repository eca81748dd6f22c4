import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { reliableMqEntities } from '@reliable-mq/nestjs';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DataSource } from 'typeorm';
import { PaymentEntity } from '../payments/payment.entity';
import { CreatePayments1710000000101 } from './migrations/1710000000101-create-payments';
import { CreatePaymentsPostgres1710000000101 } from './migrations/1710000000101-create-payments.postgres';

/** Where the payment service keeps its data: a SQLite file, or a schema of a PostgreSQL database when `url` is set. */
export interface PaymentDatabaseLocation {
  file: string;
  url?: string;
  schema: string;
}

/**
 * Opens the payment service's database (a string is a SQLite file) and applies the service's own migrations. The framework's tables are
 * created by ReliableMqModule (`runMigrations: true`); nothing is synchronised from entities.
 *
 * The DataSource is built here rather than through @nestjs/typeorm, whose data-source name registry is
 * process-wide: two applications in one process would both register the "default" name.
 *
 * On PostgreSQL the pool is larger than the consumer's prefetch (32): each handler holds a connection for its
 * transaction (the `db` dedup inbox row and the payment) while its transactional message takes another one.
 */
export async function openPaymentDatabase(where: string | PaymentDatabaseLocation): Promise<DataSource> {
  const location = typeof where === 'string' ? { file: where, schema: 'payment_service' } : where;
  const entities = [PaymentEntity, ...reliableMqEntities];
  let dataSource: DataSource;
  if (location.url) {
    dataSource = new DataSource({
      type: 'postgres',
      url: location.url,
      schema: location.schema,
      entities,
      migrations: [CreatePaymentsPostgres1710000000101],
      migrationsTableName: 'payment_service_migrations',
      synchronize: false,
      // Unqualified table names in the migrations resolve to the service's schema.
      extra: { max: 48, options: `-c search_path=${location.schema}` },
    });
  } else {
    mkdirSync(dirname(location.file), { recursive: true });
    dataSource = new DataSource({
      type: 'better-sqlite3',
      database: location.file,
      entities,
      migrations: [CreatePayments1710000000101],
      migrationsTableName: 'payment_service_migrations',
      synchronize: false,
      enableWAL: true,
    });
  }
  await dataSource.initialize();
  try {
    if (location.url) await createSchema(dataSource, location.schema);
    await dataSource.runMigrations({ transaction: 'each' });
  } catch (error) {
    await dataSource.destroy();
    throw error;
  }
  return dataSource;
}

async function createSchema(dataSource: DataSource, schema: string): Promise<void> {
  try {
    await dataSource.query(`CREATE SCHEMA IF NOT EXISTS "${schema.replace(/"/g, '""')}"`);
  } catch (error) {
    // Two instances creating it at once: the loser sees a duplicate, and the schema is there.
    if (!/already exists|duplicate key/i.test(String((error as Error).message))) throw error;
  }
}

/** Closes the database after ReliableMQ has stopped its consumers and relay (they stop before shutdown hooks run). */
@Injectable()
export class PaymentDatabaseCloser implements OnApplicationShutdown {
  constructor(private readonly dataSource: DataSource) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}
