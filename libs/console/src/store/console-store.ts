import Database from 'better-sqlite3';
import { ownerOnlyDatabaseFile, ownerOnlyDirectory } from '@reliable-mq/engine';
import { dirname } from 'node:path';
import { ConfigurationError } from '@reliable-mq/nestjs';

/** The schema this console writes; a file with a newer one is refused, an older one is migrated in place. */
export const CONSOLE_STORE_SCHEMA_VERSION = 3;

const META = 'CREATE TABLE IF NOT EXISTS console_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);';

/** Version 1: audit log, chart samples, sessions, users and settings. */
const V1 = `
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
 * Version 2: bulk retries. The fixed list of ids sits in its own table so the per-chunk progress updates of
 * `retry_jobs` rewrite a short row, not the whole list.
 */
const V2 = `
CREATE TABLE IF NOT EXISTS retry_jobs (
  id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  scope TEXT NOT NULL,
  reason TEXT,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  finished_at INTEGER,
  interrupted_at INTEGER,
  resumed_at INTEGER,
  resumed_by TEXT,
  rate_per_sec REAL NOT NULL,
  total INTEGER NOT NULL,
  cursor INTEGER NOT NULL,
  resent INTEGER NOT NULL,
  skipped INTEGER NOT NULL,
  failed INTEGER NOT NULL,
  last_error TEXT,
  cancelled_by TEXT
);
CREATE INDEX IF NOT EXISTS idx_retry_jobs_state ON retry_jobs (state);
CREATE INDEX IF NOT EXISTS idx_retry_jobs_created_at ON retry_jobs (created_at);
CREATE TABLE IF NOT EXISTS retry_job_ids (job_id TEXT PRIMARY KEY, ids TEXT NOT NULL);
`;

/**
 * Version 3: the addresses each user logged in from, so that login throttling can tell a user's own addresses from
 * a stranger's across restarts.
 */
const V3 = `
CREATE TABLE IF NOT EXISTS login_addresses (
  username TEXT NOT NULL,
  address TEXT NOT NULL,
  last_ok_at INTEGER NOT NULL,
  PRIMARY KEY (username, address)
);
CREATE INDEX IF NOT EXISTS idx_login_addresses_last_ok_at ON login_addresses (last_ok_at);
`;

/** Each step takes a file from the version before it to its own; a fresh file runs them all. */
const STEPS: ReadonlyArray<{ version: number; sql: string }> = [
  { version: 1, sql: V1 },
  { version: 2, sql: V2 },
  { version: 3, sql: V3 },
];

/**
 * The console's own small SQLite database: audit log, login sessions, chart samples, users added by an admin,
 * settings, bulk retries and the addresses users logged in from. Separate from the broker and from every service database, so the console can be pointed at any of
 * them without writing its tables there.
 */
export class ConsoleStore {
  /** @internal The console's own statements only; left out of the typings so that they do not need the driver's. */
  readonly db: Database.Database;

  constructor(file: string) {
    // Sessions and the audit log (payloads before and after edits) are for the owner's eyes only: 0700 and 0600.
    if (file !== ':memory:') {
      ownerOnlyDirectory(dirname(file));
      ownerOnlyDatabaseFile(file);
    }
    this.db = new Database(file);
    try {
      if (file !== ':memory:') this.db.pragma('journal_mode = WAL');
      this.db.pragma('busy_timeout = 5000');
      this.db.exec(META);
      this.migrate(file);
    } catch (error) {
      this.db.close();
      throw error;
    }
  }

  /** The schema version the file is at. */
  schemaVersion(): number {
    const row = this.db.prepare("SELECT value FROM console_meta WHERE name = 'schema_version'").get() as
      { value: string } | undefined;
    return row ? Number(row.value) : 0;
  }

  /**
   * Brings the file to CONSOLE_STORE_SCHEMA_VERSION, one step at a time in one write transaction (so two consoles
   * opening the same file at once migrate it once), or refuses a file written by a newer console untouched.
   */
  private migrate(file: string): void {
    this.db
      .transaction(() => {
        const found = this.schemaVersion();
        if (!Number.isInteger(found) || found < 0) {
          throw new ConfigurationError(
            `The console store ${file} has an unreadable schema version; point storeFile at another file.`,
          );
        }
        if (found > CONSOLE_STORE_SCHEMA_VERSION) {
          throw new ConfigurationError(
            `The console store ${file} has schema version ${found}, newer than this console ` +
              `(${CONSOLE_STORE_SCHEMA_VERSION}). Upgrade the console, or point storeFile at another file.`,
          );
        }
        for (const step of STEPS) if (step.version > found) this.db.exec(step.sql);
        if (found !== CONSOLE_STORE_SCHEMA_VERSION) {
          this.db
            .prepare("INSERT OR REPLACE INTO console_meta (name, value) VALUES ('schema_version', ?)")
            .run(String(CONSOLE_STORE_SCHEMA_VERSION));
        }
      })
      .immediate();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
