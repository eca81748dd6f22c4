import { EntitySchema, type ValueTransformer } from 'typeorm';

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

/**
 * PostgreSQL returns BIGINT as a string (it can exceed 2^53) and mysql2 does the same under TypeORM's default
 * `bigNumberStrings`. Epoch milliseconds and sequence numbers stay far below 2^53, so a number is exact.
 */
export const bigintAsNumber: ValueTransformer = {
  to: (value: unknown) => value,
  from: (value: unknown) => (value === null || value === undefined ? value : Number(value)),
};

/**
 * The outbox table for reading with TypeORM (console, diagnostics, application queries). The table itself is
 * created by the framework's migrations, which use the best column type per database (`integer` rowid key on
 * SQLite, `LONGTEXT` payloads on MySQL, a partial key index where supported); prefer them to `synchronize`.
 */
export const OutboxMessageEntity = new EntitySchema<OutboxMessage>({
  name: 'ReliableMqOutboxMessage',
  tableName: OUTBOX_TABLE,
  columns: {
    seq: { type: 'bigint', primary: true, generated: 'increment', transformer: bigintAsNumber },
    id: { type: 'varchar', length: 36 },
    producerGroup: { name: 'producer_group', type: 'varchar', length: 127 },
    topic: { type: 'varchar', length: 127 },
    key: { name: 'msg_key', type: 'varchar', length: 191, nullable: true },
    tags: { type: 'text', nullable: true },
    headers: { type: 'text' },
    payload: { type: 'text' },
    status: { type: 'varchar', length: 16 },
    attempts: { type: 'int', default: 0 },
    nextAttemptAt: { name: 'next_attempt_at', type: 'bigint', transformer: bigintAsNumber },
    deliverAt: { name: 'deliver_at', type: 'bigint', nullable: true, transformer: bigintAsNumber },
    createdAt: { name: 'created_at', type: 'bigint', transformer: bigintAsNumber },
    sentAt: { name: 'sent_at', type: 'bigint', nullable: true, transformer: bigintAsNumber },
    leaseOwner: { name: 'lease_owner', type: 'varchar', length: 191, nullable: true },
    leaseUntil: { name: 'lease_until', type: 'bigint', nullable: true, transformer: bigintAsNumber },
    lastError: { name: 'last_error', type: 'text', nullable: true },
  },
  uniques: [{ name: 'uq_rmq_outbox_id', columns: ['id'] }],
  indices: [
    // The relay claims the oldest pending rows first and cleanup deletes the oldest sent rows first: both walk
    // this index in seq order within one status and stop after a batch, however many rows of the other status the
    // table holds (days of sent rows would otherwise be scanned on every claim).
    { name: 'idx_rmq_outbox_status_seq', columns: ['status', 'seq'] },
    // Checks that no earlier row of the same key is still unsent. Its exact form differs per database (partial
    // on PostgreSQL and SQLite, with `status` on MySQL), so schema diffs leave it to the migrations.
    { name: 'idx_rmq_outbox_key_seq', columns: ['key', 'seq'], synchronize: false },
  ],
});
