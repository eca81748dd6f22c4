import { runReliableMqMigrations } from '@reliable-mq/nestjs';
import { join } from 'node:path';
import { Column, DataSource, Entity, PrimaryColumn } from 'typeorm';
import { POSTGRES_URL } from './services';

/** The business row of the framework scenarios: an order, inserted in the business transaction. */
@Entity('bench_orders')
export class BenchOrder {
  @PrimaryColumn('varchar', { length: 40 })
  id!: string;

  @Column('varchar', { length: 64, name: 'customer_id' })
  customerId!: string;

  @Column('integer', { name: 'amount_cents' })
  amountCents!: number;

  @Column('varchar', { length: 16 })
  status!: string;

  @Column('bigint', { name: 'created_at' })
  createdAt!: number;
}

/** A line of an order, for the scenario of a typical business transaction. */
@Entity('bench_order_lines')
export class BenchOrderLine {
  @PrimaryColumn('varchar', { length: 48 })
  id!: string;

  @Column('varchar', { length: 40, name: 'order_id' })
  orderId!: string;

  @Column('varchar', { length: 16 })
  sku!: string;

  @Column('integer')
  quantity!: number;

  @Column('integer', { name: 'price_cents' })
  priceCents!: number;
}

/** Stock on hand per SKU, decremented by each order line. */
@Entity('bench_stock')
export class BenchStock {
  @PrimaryColumn('varchar', { length: 16 })
  sku!: string;

  @Column('integer', { name: 'on_hand' })
  onHand!: number;
}

export const BENCH_ENTITIES = [BenchOrder, BenchOrderLine, BenchStock];

export const orderRow = (id: string): BenchOrder =>
  Object.assign(new BenchOrder(), {
    id,
    customerId: 'customer-1',
    amountCents: 4250,
    status: 'PENDING',
    createdAt: Date.now(),
  });

export interface BenchDatabase {
  kind: 'sqlite' | 'postgres';
  dataSource: DataSource;
  /** Destroys the DataSource and removes what it created (the PostgreSQL schema). */
  dispose(): Promise<void>;
}

/**
 * An application database on SQLite as a durable service would run it: WAL, synchronous=FULL (every commit
 * fsynced), the orders table and the framework's migrations.
 */
export async function openSqliteDatabase(dir: string): Promise<BenchDatabase> {
  const dataSource = new DataSource({
    type: 'better-sqlite3',
    database: join(dir, 'app.sqlite'),
    entities: BENCH_ENTITIES,
    synchronize: true,
    enableWAL: true,
    prepareDatabase: (db: { pragma(source: string): unknown }) => {
      db.pragma('synchronous = FULL');
    },
    logging: false,
  });
  await dataSource.initialize();
  await runReliableMqMigrations(dataSource);
  return { kind: 'sqlite', dataSource, dispose: () => dataSource.destroy() };
}

/** Runs one statement on a short-lived connection of its own (schema creation and removal, version query). */
export async function postgresAdminQuery<T = unknown>(sql: string): Promise<T> {
  const admin = new DataSource({ type: 'postgres', url: POSTGRES_URL, poolSize: 1, logging: false });
  await admin.initialize();
  try {
    return (await admin.query(sql)) as T;
  } finally {
    await admin.destroy();
  }
}

/** An application database on PostgreSQL, in a schema of its own that `dispose` drops. */
export async function openPostgresDatabase(schema: string, poolSize = 10): Promise<BenchDatabase> {
  await postgresAdminQuery(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
  const dataSource = new DataSource({
    type: 'postgres',
    url: POSTGRES_URL,
    schema,
    entities: BENCH_ENTITIES,
    synchronize: true,
    poolSize,
    logging: false,
  });
  const drop = async (): Promise<void> => {
    await postgresAdminQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  };
  try {
    await dataSource.initialize();
    await runReliableMqMigrations(dataSource);
  } catch (error) {
    if (dataSource.isInitialized) await dataSource.destroy().catch(() => undefined);
    await drop().catch(() => undefined);
    throw error;
  }
  return {
    kind: 'postgres',
    dataSource,
    dispose: async () => {
      if (dataSource.isInitialized) await dataSource.destroy();
      await drop();
    },
  };
}
