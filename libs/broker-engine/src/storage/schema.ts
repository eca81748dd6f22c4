import type { Database } from 'better-sqlite3';
import { SchemaVersionError } from '../errors';

/**
 * Each entry moves the schema from version `index` to `index + 1`. Entries are never
 * edited once released: a change to the schema is a new entry at the end.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE topics (
    name        TEXT PRIMARY KEY,
    queue_count INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE queues (
    topic       TEXT NOT NULL,
    queue_id    INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, queue_id)
  ) WITHOUT ROWID;

  CREATE TABLE messages (
    seq          INTEGER PRIMARY KEY,
    topic        TEXT NOT NULL,
    queue_id     INTEGER NOT NULL,
    queue_offset INTEGER NOT NULL,
    message_id   TEXT NOT NULL,
    key          TEXT,
    tags         TEXT,
    headers      TEXT,
    body         BLOB NOT NULL,
    born_at      INTEGER NOT NULL,
    stored_at    INTEGER NOT NULL,
    expire_at    INTEGER
  );
  CREATE UNIQUE INDEX messages_position ON messages (topic, queue_id, queue_offset);
  CREATE UNIQUE INDEX messages_message_id ON messages (message_id);

  CREATE TABLE scheduled (
    seq        INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    topic      TEXT NOT NULL,
    queue_id   INTEGER NOT NULL,
    key        TEXT,
    tags       TEXT,
    headers    TEXT,
    body       BLOB NOT NULL,
    born_at    INTEGER NOT NULL,
    stored_at  INTEGER NOT NULL,
    expire_at  INTEGER,
    deliver_at INTEGER NOT NULL
  );
  CREATE INDEX scheduled_due ON scheduled (deliver_at);

  CREATE TABLE subscriptions (
    group_name TEXT NOT NULL,
    topic      TEXT NOT NULL,
    group_mode TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (group_name, topic)
  ) WITHOUT ROWID;

  CREATE TABLE offsets (
    group_name TEXT NOT NULL,
    member_id  TEXT NOT NULL,
    topic      TEXT NOT NULL,
    queue_id   INTEGER NOT NULL,
    committed  INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (group_name, member_id, topic, queue_id)
  ) WITHOUT ROWID;

  CREATE TABLE dead_letters (
    id                  INTEGER PRIMARY KEY,
    dlq_topic           TEXT NOT NULL,
    group_name          TEXT NOT NULL,
    topic               TEXT NOT NULL,
    message_id          TEXT NOT NULL,
    original_message_id TEXT NOT NULL,
    key                 TEXT,
    tags                TEXT,
    headers             TEXT,
    body                BLOB NOT NULL,
    reason              TEXT NOT NULL,
    reconsume_times     INTEGER NOT NULL,
    born_at             INTEGER NOT NULL,
    dead_at             INTEGER NOT NULL,
    status              TEXT NOT NULL DEFAULT 'dead',
    status_reason       TEXT,
    status_at           INTEGER
  );
  CREATE INDEX dead_letters_group ON dead_letters (group_name, status, dead_at);
  CREATE INDEX dead_letters_original ON dead_letters (original_message_id);
  CREATE INDEX dead_letters_key ON dead_letters (key);
  `,
  // Offsets acked above a queue's committed offset when the engine closed (a handler was still out below them).
  `
  CREATE TABLE acked_offsets (
    group_name   TEXT NOT NULL,
    member_id    TEXT NOT NULL,
    topic        TEXT NOT NULL,
    queue_id     INTEGER NOT NULL,
    queue_offset INTEGER NOT NULL,
    PRIMARY KEY (group_name, member_id, topic, queue_id, queue_offset)
  ) WITHOUT ROWID;
  `,
  // Transactional (half) messages: invisible until committed; kept after commit, rollback or discard for audit.
  `
  CREATE TABLE half_messages (
    tx_id          TEXT PRIMARY KEY,
    message_id     TEXT NOT NULL UNIQUE,
    producer_group TEXT NOT NULL,
    topic          TEXT NOT NULL,
    key            TEXT,
    tags           TEXT,
    headers        TEXT,
    body           BLOB NOT NULL,
    sent_at        INTEGER NOT NULL,
    deliver_at     INTEGER,
    ttl_ms         INTEGER,
    state          TEXT NOT NULL DEFAULT 'unresolved',
    check_count    INTEGER NOT NULL DEFAULT 0,
    next_check_at  INTEGER NOT NULL,
    warned         INTEGER NOT NULL DEFAULT 0,
    reason         TEXT,
    resolved_at    INTEGER,
    resolved_by    TEXT
  ) WITHOUT ROWID;
  CREATE INDEX half_messages_due ON half_messages (next_check_at) WHERE state = 'unresolved';
  CREATE INDEX half_messages_state ON half_messages (state, producer_group, sent_at);
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * @internal Refuses a database written by a newer engine. Call it before anything that writes,
 * including `journal_mode = WAL`, which rewrites the file header.
 */
export function assertSchemaSupported(db: Database, path: string): number {
  const found = db.pragma('user_version', { simple: true }) as number;
  if (found > SCHEMA_VERSION) throw new SchemaVersionError(found, SCHEMA_VERSION, path);
  return found;
}

/** @internal Brings the database to the current schema; refuses one written by a newer engine without touching it. */
export function migrate(db: Database, path: string): { from: number; to: number } {
  const from = assertSchemaSupported(db, path);
  if (from === SCHEMA_VERSION) return { from, to: from };
  db.transaction(() => {
    for (let version = from; version < SCHEMA_VERSION; version++) {
      db.exec(MIGRATIONS[version]!);
    }
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
  return { from, to: SCHEMA_VERSION };
}
