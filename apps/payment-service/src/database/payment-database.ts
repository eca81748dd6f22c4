import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { reliableMqEntities } from '@reliable-mq/nestjs';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DataSource } from 'typeorm';
import { PaymentEntity } from '../payments/payment.entity';
import { CreatePayments1710000000101 } from './migrations/1710000000101-create-payments';

/**
 * Opens the payment service's SQLite database and applies the service's own migrations. The framework's tables are
 * created by ReliableMqModule (`runMigrations: true`); nothing is synchronised from entities.
 *
 * The DataSource is built here rather than through @nestjs/typeorm, whose data-source name registry is
 * process-wide: two applications in one process would both register the "default" name.
 */
export async function openPaymentDatabase(file: string): Promise<DataSource> {
  mkdirSync(dirname(file), { recursive: true });
  const dataSource = new DataSource({
    type: 'better-sqlite3',
    database: file,
    entities: [PaymentEntity, ...reliableMqEntities],
    migrations: [CreatePayments1710000000101],
    migrationsTableName: 'payment_service_migrations',
    synchronize: false,
    enableWAL: true,
  });
  await dataSource.initialize();
  try {
    await dataSource.runMigrations({ transaction: 'each' });
  } catch (error) {
    await dataSource.destroy();
    throw error;
  }
  return dataSource;
}

/** Closes the database after ReliableMQ has stopped its consumers and relay (they stop before shutdown hooks run). */
@Injectable()
export class PaymentDatabaseCloser implements OnApplicationShutdown {
  constructor(private readonly dataSource: DataSource) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}
