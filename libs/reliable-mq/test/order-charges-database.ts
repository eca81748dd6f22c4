import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { reliableMqEntities } from '@reliable-mq/nestjs';
import type { Cleanup } from './testing-module';

/**
 * The database of the order-and-payment app the module specs run: a fresh SQLite file with the framework's entities,
 * an `orders` table the order service writes and a `charges` table the payment handler writes. It is closed and its
 * folder removed at cleanup.
 */
export async function orderChargesDataSource(dirPrefix: string, cleanups: Cleanup[]): Promise<DataSource> {
  const dir = mkdtempSync(join(tmpdir(), dirPrefix));
  const dataSource = new DataSource({
    type: 'better-sqlite3',
    database: join(dir, 'app.sqlite'),
    entities: reliableMqEntities,
  });
  await dataSource.initialize();
  await dataSource.query('CREATE TABLE orders (id TEXT PRIMARY KEY, amount INTEGER NOT NULL)');
  await dataSource.query('CREATE TABLE charges (order_id TEXT NOT NULL, amount INTEGER NOT NULL)');
  cleanups.push(async () => {
    if (dataSource.isInitialized) await dataSource.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  return dataSource;
}
