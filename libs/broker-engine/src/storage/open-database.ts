import type BetterSqlite3 from 'better-sqlite3';
import { join } from 'node:path';
import type { ResolvedEngineOptions } from '../engine-options';
import { DataDirectoryUnusableError, ReliableMqError } from '../errors';
import { loadOptionalDependency } from '../util/optional-dependency';
import { ownerOnlyDatabaseFile } from '../util/owner-only-files';
import { DATABASE_FILE } from './database-file';
import { lockDataDirectory, type DirectoryLock } from './directory-lock';
import { assertSchemaSupported, migrate } from './schema';

export { DATABASE_FILE } from './database-file';

/**
 * Takes `dataDir` for this engine (see lockDataDirectory), then opens the engine's database in it, readable by its
 * owner only, creating or migrating it: WAL, fsync on each
 * commit in `sync` mode, and a page limit that makes SQLite refuse to grow past `maxDatabaseBytes`. A database this
 * version cannot read is closed again and refused.
 */
export function openDatabase(options: Pick<ResolvedEngineOptions, 'dataDir' | 'flush' | 'maxDatabaseBytes'>): {
  db: BetterSqlite3.Database;
  lock: DirectoryLock;
} {
  const Database = loadOptionalDependency<typeof BetterSqlite3>('better-sqlite3', 'The embedded broker engine', () =>
    require('better-sqlite3'),
  );
  const lock = explained(options.dataDir, () => lockDataDirectory(options.dataDir, Database));
  try {
    return { db: explained(options.dataDir, () => openLockedDatabase(options, Database)), lock };
  } catch (error) {
    lock.release();
    throw error;
  }
}

/** The file system's or SQLite's own error (EEXIST, EACCES, SQLITE_NOTADB…) said in terms of the dataDir option. */
function explained<T>(dataDir: string, open: () => T): T {
  try {
    return open();
  } catch (error) {
    if (error instanceof ReliableMqError) throw error;
    throw new DataDirectoryUnusableError(dataDir, error);
  }
}

function openLockedDatabase(
  options: Pick<ResolvedEngineOptions, 'dataDir' | 'flush' | 'maxDatabaseBytes'>,
  Database: typeof BetterSqlite3,
): BetterSqlite3.Database {
  const path = join(options.dataDir, DATABASE_FILE);
  ownerOnlyDatabaseFile(path);
  const db = new Database(path);
  try {
    assertSchemaSupported(db, path);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.flush === 'sync' ? 'FULL' : 'NORMAL'}`);
    db.pragma('foreign_keys = OFF');
    migrate(db, path);
    if (options.maxDatabaseBytes !== null) {
      const pageSize = db.pragma('page_size', { simple: true }) as number;
      db.pragma(`max_page_count = ${Math.max(1, Math.floor(options.maxDatabaseBytes / pageSize))}`);
    }
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}
