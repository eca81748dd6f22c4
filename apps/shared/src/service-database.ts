import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { reliableMqEntities } from '@reliable-mq/nestjs';
import { ownerOnlyDatabaseFile, ownerOnlyDirectory } from '@reliable-mq/engine';
import { dirname } from 'node:path';
import { DataSource, type MigrationInterface } from 'typeorm';

/** Where a sample service keeps its data: a SQLite file, or a schema of a PostgreSQL database when `url` is set. */
export interface ServiceDatabaseLocation {
  file: string;
  url?: string;
  schema: string;
}

/** What differs between the sample services' databases. */
export interface ServiceDatabaseSpec {
  /** The service's own entities; the framework's are added. */
  entities: Array<new () => unknown>;
  sqliteMigrations: Array<new () => MigrationInterface>;
  postgresMigrations: Array<new () => MigrationInterface>;
  migrationsTableName: string;
  /** Size of the PostgreSQL connection pool. */
  postgresPoolSize: number;
}

/**
 * Opens a service's database and applies the service's own migrations. The framework's tables are created by
 * ReliableMqModule (`runMigrations: true`); nothing is synchronised from entities.
 *
 * The DataSource is built here rather than through @nestjs/typeorm, whose data-source name registry is
 * process-wide: two applications in one process would both register the "default" name.
 */
export async function openServiceDatabase(
  location: ServiceDatabaseLocation,
  spec: ServiceDatabaseSpec,
): Promise<DataSource> {
  const entities = [...spec.entities, ...reliableMqEntities];
  let dataSource: DataSource;
  if (location.url) {
    dataSource = new DataSource({
      type: 'postgres',
      url: location.url,
      schema: location.schema,
      entities,
      migrations: spec.postgresMigrations,
      migrationsTableName: spec.migrationsTableName,
      synchronize: false,
      // Unqualified table names in the migrations resolve to the service's schema.
      extra: { max: spec.postgresPoolSize, options: `-c search_path=${location.schema}` },
    });
  } else {
    // Orders, payments and the outbox's payloads (card numbers): 0600, and 0700 for a folder made here.
    ownerOnlyDirectory(dirname(location.file));
    ownerOnlyDatabaseFile(location.file);
    dataSource = new DataSource({
      type: 'better-sqlite3',
      database: location.file,
      entities,
      migrations: spec.sqliteMigrations,
      migrationsTableName: spec.migrationsTableName,
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
export class ServiceDatabaseCloser implements OnApplicationShutdown {
  constructor(private readonly dataSource: DataSource) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}
