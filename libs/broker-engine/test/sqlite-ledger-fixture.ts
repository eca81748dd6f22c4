import Database from 'better-sqlite3';
import { migrate } from '../src/storage/schema';
import { SqliteHalfMessageLedger } from '../src/transactions/sqlite-half-message-ledger';
import type { LedgerUnderTest } from './half-message-ledger.contract';

/**
 * The engine's SQLite ledger on a migrated in-memory database. Its host commits each write in a transaction of its
 * own, as the group committer does for a lone operation, and records the messages handed over for delivery in a
 * table of the same database, so that a rolled back commit leaves no delivery behind, as in the engine.
 */
export function sqliteLedgerUnderTest(): LedgerUnderTest & { db: Database.Database } {
  const db = new Database(':memory:');
  migrate(db, ':memory:');
  db.exec('CREATE TABLE delivered_for_test (seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL)');
  const record = db.prepare('INSERT INTO delivered_for_test (message_id) VALUES (?)');
  const delivered = (): string[] =>
    (db.prepare('SELECT message_id FROM delivered_for_test ORDER BY seq').all() as Array<{ message_id: string }>).map(
      (row) => row.message_id,
    );
  const ledger = new SqliteHalfMessageLedger(
    {
      db,
      now: () => Date.now(),
      submit: <T>(apply: () => T): Promise<T> => {
        try {
          return Promise.resolve(db.transaction(apply).immediate());
        } catch (error) {
          return Promise.reject(error);
        }
      },
      storeForDelivery: (message) => {
        const offset = Number(record.run(message.messageId).lastInsertRowid);
        return {
          messageId: message.messageId,
          topic: message.topic,
          queueId: 0,
          queueOffset: offset,
          duplicate: false,
        };
      },
      isPublished: (messageId) => delivered().includes(messageId),
      onWarning: () => undefined,
      stopped: () => false,
    },
    { retentionMs: null, chunkSize: 100 },
  );
  return {
    db,
    ledger,
    delivered: async () => delivered(),
    cleanup: async () => void db.close(),
  };
}
