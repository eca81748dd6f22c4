import type { DataSource } from 'typeorm';
import { CreateOutboxMysql1700000000001 } from './mysql/1700000000001-create-outbox';
import { CreateInboxMysql1700000000002 } from './mysql/1700000000002-create-inbox';
import { CreateHalfMessagesMysql1700000000003 } from './mysql/1700000000003-create-half-messages';
import { WidenOutboxTextMysql1700000000004 } from './mysql/1700000000004-widen-outbox-text';
import { CreateOutboxPostgres1700000000001 } from './postgres/1700000000001-create-outbox';
import { CreateInboxPostgres1700000000002 } from './postgres/1700000000002-create-inbox';
import { CreateHalfMessagesPostgres1700000000003 } from './postgres/1700000000003-create-half-messages';
import { applyMigrations, MIGRATIONS_TABLE, type MigrationClass } from './run-migrations';
import { CreateOutboxSqlite1700000000001 } from './sqlite/1700000000001-create-outbox';
import { CreateInboxSqlite1700000000002 } from './sqlite/1700000000002-create-inbox';
import { CreateHalfMessagesSqlite1700000000003 } from './sqlite/1700000000003-create-half-messages';
import { RebuildTablesSqlite1700000000004 } from './sqlite/1700000000004-rebuild-tables';

export type ReliableMqDatabaseType = 'better-sqlite3' | 'sqlite' | 'postgres' | 'mysql' | 'mariadb';
export { MIGRATIONS_TABLE, type MigrationClass };

const BY_DIALECT = {
  sqlite: [
    CreateOutboxSqlite1700000000001,
    CreateInboxSqlite1700000000002,
    CreateHalfMessagesSqlite1700000000003,
    RebuildTablesSqlite1700000000004,
  ],
  postgres: [
    CreateOutboxPostgres1700000000001,
    CreateInboxPostgres1700000000002,
    CreateHalfMessagesPostgres1700000000003,
  ],
  mysql: [
    CreateOutboxMysql1700000000001,
    CreateInboxMysql1700000000002,
    CreateHalfMessagesMysql1700000000003,
    WidenOutboxTextMysql1700000000004,
  ],
} as const satisfies Record<string, readonly MigrationClass[]>;

/**
 * The framework's migrations for a database type, oldest first. Add them to your DataSource's `migrations` to run
 * them with the TypeORM CLI alongside your own.
 */
export function reliableMqMigrations(type: ReliableMqDatabaseType): MigrationClass[] {
  switch (type) {
    case 'better-sqlite3':
    case 'sqlite':
      return [...BY_DIALECT.sqlite];
    case 'postgres':
      return [...BY_DIALECT.postgres];
    case 'mysql':
    case 'mariadb':
      return [...BY_DIALECT.mysql];
    default:
      throw new Error(
        `ReliableMQ has migrations for better-sqlite3, sqlite, postgres, mysql and mariadb; got ${JSON.stringify(type)}.`,
      );
  }
}

/**
 * Applies the framework's pending migrations to `dataSource` (initialised), tracking them in `rmq_migrations`,
 * and resolves the names applied. Idempotent and safe to run from several processes at once.
 */
export function runReliableMqMigrations(dataSource: DataSource): Promise<string[]> {
  return applyMigrations(dataSource, reliableMqMigrations(dataSource.options.type as ReliableMqDatabaseType));
}
