import type BetterSqlite3 from 'better-sqlite3';
import { join } from 'node:path';
import { DataDirectoryInUseError } from '../errors';
import { ownerOnlyDatabaseFile, ownerOnlyDirectory } from '../util/owner-only-files';

/** The file whose lock an engine holds while it owns its data directory. */
export const LOCK_FILE = 'engine.lock';

/** Releases a data directory's lock (the engine's close). */
export interface DirectoryLock {
  release(): void;
}

/**
 * Takes the data directory for this engine, or refuses with DataDirectoryInUseError when another engine holds it, in
 * this process or another: two engines appending to one database would hand out the same queue offsets. The lock is
 * SQLite's own exclusive lock on a small file beside the database, held by a connection in exclusive locking mode
 * until release; the operating system drops it when the process dies, so a killed process leaves nothing to clean up.
 * The database itself stays readable by other connections (backups, inspection).
 */
export function lockDataDirectory(dataDir: string, Database: typeof BetterSqlite3): DirectoryLock {
  ownerOnlyDirectory(dataDir);
  const path = join(dataDir, LOCK_FILE);
  ownerOnlyDatabaseFile(path);
  // No waiting: the holder keeps its lock for as long as it runs.
  const connection = new Database(path, { timeout: 0 });
  try {
    connection.pragma('locking_mode = EXCLUSIVE');
    connection.pragma('synchronous = OFF');
    // The first write takes the exclusive lock; in exclusive locking mode it is kept after the commit.
    connection.exec(
      'BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL, since INTEGER NOT NULL); DELETE FROM holder;',
    );
    connection.prepare('INSERT INTO holder (pid, since) VALUES (?, ?)').run(process.pid, Date.now());
    connection.exec('COMMIT');
  } catch (error) {
    if (connection.inTransaction) connection.exec('ROLLBACK');
    connection.close();
    if ((error as { code?: unknown }).code === 'SQLITE_BUSY') throw new DataDirectoryInUseError(dataDir);
    throw error;
  }
  return { release: () => connection.close() };
}
