import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigurationError } from '@reliable-mq/nestjs';

const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS console_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  role TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  count INTEGER NOT NULL,
  reason TEXT,
  outcome TEXT NOT NULL,
  details TEXT
);
CREATE INDEX IF NOT EXISTS idx_audit_at ON audit (at);
CREATE TABLE IF NOT EXISTS samples (at INTEGER NOT NULL, series TEXT NOT NULL, value REAL NOT NULL);
CREATE INDEX IF NOT EXISTS idx_samples_series_at ON samples (series, at);
CREATE INDEX IF NOT EXISTS idx_samples_at ON samples (at);
CREATE TABLE IF NOT EXISTS sessions (
  id_hash TEXT PRIMARY KEY,
  username TEXT NOT NULL,
  csrf_token TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_sessions_username ON sessions (username);
CREATE TABLE IF NOT EXISTS users (
  username TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  role TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/**
 * The console's own small SQLite database: audit log, login sessions, chart samples, users added by an admin and
 * settings. Separate from the broker and from every service database, so the console can be pointed at any of
 * them without writing its tables there.
 */
export class ConsoleStore {
  readonly db: Database.Database;

  constructor(file: string) {
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    try {
      if (file !== ':memory:') this.db.pragma('journal_mode = WAL');
      this.db.pragma('busy_timeout = 5000');
      this.db.exec(SCHEMA);
      const row = this.db.prepare("SELECT value FROM console_meta WHERE name = 'schema_version'").get() as
        { value: string } | undefined;
      if (row && Number(row.value) > SCHEMA_VERSION) {
        throw new ConfigurationError(
          `The console store ${file} has schema version ${row.value}, newer than this console (${SCHEMA_VERSION}). ` +
            'Upgrade the console, or point storeFile at another file.',
        );
      }
      this.db
        .prepare("INSERT OR REPLACE INTO console_meta (name, value) VALUES ('schema_version', ?)")
        .run(String(SCHEMA_VERSION));
    } catch (error) {
      this.db.close();
      throw error;
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
