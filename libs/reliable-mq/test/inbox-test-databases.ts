import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, type MigrationInterface } from 'typeorm';
import { CreateInboxMysql1700000000002 } from '../src/migrations/mysql/1700000000002-create-inbox';
import { CreateInboxPostgres1700000000002 } from '../src/migrations/postgres/1700000000002-create-inbox';
import { CreateInboxSqlite1700000000002 } from '../src/migrations/sqlite/1700000000002-create-inbox';
import { MARIADB_URL, POSTGRES_URL, uniqueName } from '../../../test/support/services';
import { InboxMessage } from '../src/dedup/inbox-message.entity';

export type InboxTestDatabaseKind = 'sqlite' | 'postgres' | 'mariadb';

/** A database of its own (a temp file, a schema or a database named for the run) holding the `rmq_inbox` table. */
export interface InboxTestDatabase {
  dataSource: DataSource;
  /** Drops what `open` created and destroys the DataSource. */
  dispose(): Promise<void>;
}

/** Opens a fresh database of `kind` with the inbox created by the framework's migration for that dialect. */
export async function openInboxTestDatabase(kind: InboxTestDatabaseKind): Promise<InboxTestDatabase> {
  switch (kind) {
    case 'sqlite': {
      const directory = mkdtempSync(join(tmpdir(), 'rmq-inbox-'));
      const dataSource = new DataSource({
        type: 'better-sqlite3',
        database: join(directory, 'inbox.sqlite'),
        entities: [InboxMessage],
      });
      await createInbox(dataSource, new CreateInboxSqlite1700000000002());
      return {
        dataSource,
        dispose: async () => {
          if (dataSource.isInitialized) await dataSource.destroy();
          rmSync(directory, { recursive: true, force: true });
        },
      };
    }
    case 'postgres': {
      const schema = uniqueName('rmq_inbox');
      // Every pooled connection resolves unqualified names in this run's schema only.
      const dataSource = new DataSource({
        type: 'postgres',
        url: POSTGRES_URL,
        extra: { options: `-c search_path=${schema}` },
        entities: [InboxMessage],
      });
      await dataSource.initialize();
      await dataSource.query(`CREATE SCHEMA "${schema}"`);
      await createInbox(dataSource, new CreateInboxPostgres1700000000002());
      return {
        dataSource,
        dispose: async () => {
          if (!dataSource.isInitialized) return;
          await dataSource.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
          await dataSource.destroy();
        },
      };
    }
    case 'mariadb': {
      const database = uniqueName('rmq_inbox');
      const admin = new DataSource({ type: 'mariadb', url: MARIADB_URL });
      await admin.initialize();
      try {
        await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4`);
      } finally {
        await admin.destroy();
      }
      const url = new URL(MARIADB_URL);
      url.pathname = `/${database}`;
      const dataSource = new DataSource({
        type: 'mariadb',
        url: url.toString(),
        charset: 'utf8mb4',
        entities: [InboxMessage],
      });
      await createInbox(dataSource, new CreateInboxMysql1700000000002());
      return {
        dataSource,
        dispose: async () => {
          if (!dataSource.isInitialized) return;
          await dataSource.query(`DROP DATABASE IF EXISTS \`${database}\``);
          await dataSource.destroy();
        },
      };
    }
  }
}

/** Runs the inbox migration twice: the second run shows that it is idempotent, as the framework relies on. */
async function createInbox(dataSource: DataSource, migration: MigrationInterface): Promise<void> {
  if (!dataSource.isInitialized) await dataSource.initialize();
  const queryRunner = dataSource.createQueryRunner();
  try {
    await migration.up(queryRunner);
    await migration.up(queryRunner);
  } finally {
    await queryRunner.release();
  }
}
