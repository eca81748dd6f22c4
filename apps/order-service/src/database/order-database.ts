import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { reliableMqEntities } from '@reliable-mq/nestjs';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DataSource } from 'typeorm';
import { OrderHistoryEntity } from '../orders/order-history.entity';
import { OrderEntity } from '../orders/order.entity';
import { CreateOrders1710000000001 } from './migrations/1710000000001-create-orders';
import { CreateOrdersPostgres1710000000001 } from './migrations/1710000000001-create-orders.postgres';

/** Where the order service keeps its data: a SQLite file, or a schema of a PostgreSQL database when `url` is set. */
export interface OrderDatabaseLocation {
  file: string;
  url?: string;
  schema: string;
}

/**
 * Opens the order service's database (a string is a SQLite file) and applies the service's own migrations. The framework's tables are
 * created by ReliableMqModule (`runMigrations: true`); nothing is synchronised from entities.
 *
 * The DataSource is built here rather than through @nestjs/typeorm, whose data-source name registry is
 * process-wide: two applications in one process would both register the "default" name.
 */
export async function openOrderDatabase(where: string | OrderDatabaseLocation): Promise<DataSource> {
  const location = typeof where === 'string' ? { file: where, schema: 'order_service' } : where;
  const entities = [OrderEntity, OrderHistoryEntity, ...reliableMqEntities];
  let dataSource: DataSource;
  if (location.url) {
    dataSource = new DataSource({
      type: 'postgres',
      url: location.url,
      schema: location.schema,
      entities,
      migrations: [CreateOrdersPostgres1710000000001],
      migrationsTableName: 'order_service_migrations',
      synchronize: false,
      // Unqualified table names in the migrations resolve to the service's schema.
      extra: { max: 20, options: `-c search_path=${location.schema}` },
    });
  } else {
    mkdirSync(dirname(location.file), { recursive: true });
    dataSource = new DataSource({
      type: 'better-sqlite3',
      database: location.file,
      entities,
      migrations: [CreateOrders1710000000001],
      migrationsTableName: 'order_service_migrations',
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
export class OrderDatabaseCloser implements OnApplicationShutdown {
  constructor(private readonly dataSource: DataSource) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}
