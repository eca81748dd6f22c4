import type BetterSqlite3 from 'better-sqlite3';
import { join } from 'node:path';
import type { ResolvedEngineOptions } from '../engine-options';
import { loadOptionalDependency } from '../util/optional-dependency';
import { ownerOnlyDatabaseFile, ownerOnlyDirectory } from '../util/owner-only-files';
import { DATABASE_FILE } from './database-file';
import { assertSchemaSupported, migrate } from './schema';

export { DATABASE_FILE } from './database-file';

/**
 * Opens the engine's database in `dataDir`, readable by its owner only, creating or migrating it: WAL, fsync on each
 * commit in `sync` mode, and a page limit that makes SQLite refuse to grow past `maxDatabaseBytes`. A database this
 * version cannot read is closed again and refused.
 */
export function openDatabase(
  options: Pick<ResolvedEngineOptions, 'dataDir' | 'flush' | 'maxDatabaseBytes'>,
): BetterSqlite3.Database {
  ownerOnlyDirectory(options.dataDir);
  const path = join(options.dataDir, DATABASE_FILE);
  ownerOnlyDatabaseFile(path);
  const Database = loadOptionalDependency<typeof BetterSqlite3>('better-sqlite3', 'The embedded broker engine', () =>
    require('better-sqlite3'),
  );
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
