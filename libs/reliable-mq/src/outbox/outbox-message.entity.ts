import { EntitySchema } from 'typeorm';
import type { DialectSchema } from '../schema/dialect-schema';
import { epochMsTransformer } from '../schema/epoch-ms.transformer';
import { FrameworkRecord } from '../schema/framework-record';

export const OUTBOX_TABLE = 'rmq_outbox';

export type OutboxStatus = 'pending' | 'sent' | 'dead';

/** One outbox row as the framework reads it: every epoch-ms column is a number, whatever the driver returned. */
export interface OutboxMessage {
  /** Insertion order; per-key ordering compares it. */
  seq: number;
  /** The message id (UUIDv7), also the id the broker sees, so a resend is recognised as a duplicate. */
  id: string;
  producerGroup: string;
  topic: string;
  key: string | null;
  /** JSON array of tags, or null. */
  tags: string | null;
  /** JSON object of string headers. */
  headers: string;
  /** The payload's JSON text. */
  payload: string;
  status: OutboxStatus;
  attempts: number;
  nextAttemptAt: number;
  deliverAt: number | null;
  createdAt: number;
  sentAt: number | null;
  leaseOwner: string | null;
  leaseUntil: number | null;
  lastError: string | null;
}

/** The name the half-message entity imports; the one transformer is `epochMsTransformer`. */
export const bigintAsNumber = epochMsTransformer;

/**
 * The class TypeORM gives outbox rows. It carries the entity's name, since TypeORM finds a schema's metadata by its
 * target's name. Its dialect schema says where the table the migrations create differs from the portable
 * definition below:
 * - SQLite: `seq` is the rowid (INTEGER PRIMARY KEY AUTOINCREMENT), so the column type must be `integer`;
 * - PostgreSQL: an identity column, and keys compared byte by byte (collation "C") whatever the database's locale;
 * - MySQL/MariaDB: `utf8mb4_bin` strings (keys differing in case stay distinct), MEDIUMTEXT headers and LONGTEXT
 *   payloads (TEXT stops at 64 KiB), and a key index that leads with (msg_key, status) in place of a partial index.
 */
export class ReliableMqOutboxMessage extends FrameworkRecord {
  protected static override readonly dialectSchema: DialectSchema = {
    sqlite: { columns: { seq: { type: 'integer' } } },
    postgres: {
      columns: {
        seq: { generationStrategy: 'identity', generatedIdentity: 'BY DEFAULT' },
        key: { collation: 'C' },
      },
    },
    mysql: {
      engine: 'InnoDB',
      strings: { charset: 'utf8mb4', collation: 'utf8mb4_bin' },
      columns: { headers: { type: 'mediumtext' }, payload: { type: 'longtext' } },
      indexColumns: { idx_rmq_outbox_key_seq: ['key', 'status', 'seq'] },
    },
  };
}

/**
 * The outbox table. It describes exactly what the framework's migrations create on each database, so
 * `synchronize: true` creates the same table and `migration:generate` finds nothing to change in a migrated one.
 */
export const OutboxMessageEntity = new EntitySchema<OutboxMessage>({
  name: ReliableMqOutboxMessage.name,
  target: ReliableMqOutboxMessage,
  tableName: OUTBOX_TABLE,
  columns: {
    seq: {
      type: 'bigint',
      primary: true,
      generated: 'increment',
      primaryKeyConstraintName: 'pk_rmq_outbox',
      transformer: epochMsTransformer,
    },
    id: { type: 'varchar', length: 36 },
    producerGroup: { name: 'producer_group', type: 'varchar', length: 127 },
    topic: { type: 'varchar', length: 127 },
    key: { name: 'msg_key', type: 'varchar', length: 191, nullable: true },
    tags: { type: 'text', nullable: true },
    headers: { type: 'text' },
    payload: { type: 'text' },
    status: { type: 'varchar', length: 16, default: 'pending' },
    attempts: { type: 'int', default: 0 },
    nextAttemptAt: { name: 'next_attempt_at', type: 'bigint', transformer: epochMsTransformer },
    deliverAt: { name: 'deliver_at', type: 'bigint', nullable: true, transformer: epochMsTransformer },
    createdAt: { name: 'created_at', type: 'bigint', transformer: epochMsTransformer },
    sentAt: { name: 'sent_at', type: 'bigint', nullable: true, transformer: epochMsTransformer },
    leaseOwner: { name: 'lease_owner', type: 'varchar', length: 191, nullable: true },
    leaseUntil: { name: 'lease_until', type: 'bigint', nullable: true, transformer: epochMsTransformer },
    lastError: { name: 'last_error', type: 'text', nullable: true },
  },
  // MySQL ignores TypeORM's check constraints; its migration declares this one itself.
  checks: [{ name: 'ck_rmq_outbox_status', expression: `"status" IN ('pending', 'sent', 'dead')` }],
  uniques: [{ name: 'uq_rmq_outbox_id', columns: ['id'] }],
  indices: [
    // The relay claims the oldest pending rows first and cleanup deletes the oldest sent rows first: both walk
    // this index in seq order within one status and stop after a batch, however many rows of the other status the
    // table holds (days of sent rows would otherwise be scanned on every claim).
    { name: 'idx_rmq_outbox_status_seq', columns: ['status', 'seq'] },
    // Answers "is an earlier row of this key still unsent?" for every row the relay claims. Only unsent rows are
    // indexed, so a busy key's sent rows do not slow it (MySQL has no partial index; see the dialect schema).
    { name: 'idx_rmq_outbox_key_seq', columns: ['key', 'seq'], where: `"status" <> 'sent'` },
  ],
});
