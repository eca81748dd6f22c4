import { Check, Column, Entity, Index, PrimaryColumn, Unique } from 'typeorm';
import { bigintAsNumber } from '../outbox/outbox-message.entity';
import type { DialectSchema } from '../schema/dialect-schema';
import { FrameworkRecord } from '../schema/framework-record';
import { HALF_MESSAGE_TABLE } from './half-message-store';

/**
 * A transactional (half) message kept in the producer's database, for transports whose broker has none (RabbitMQ);
 * `HalfMessageStore` reads and writes it. The framework's migrations and `synchronize` create the same table: on
 * PostgreSQL keys compare byte by byte (collation "C"), on MySQL/MariaDB strings are `utf8mb4_bin` and payloads
 * LONGTEXT. (state, next_check_at) finds the half messages due for a checkback.
 */
@Entity({ name: HALF_MESSAGE_TABLE })
@Check('ck_rmq_half_message_state', `"state" IN ('unresolved', 'committed', 'rolled_back', 'discarded')`)
@Unique('uq_rmq_half_message_id', ['messageId'])
@Index('idx_rmq_half_message_due', ['state', 'nextCheckAt'])
export class HalfMessageRecord extends FrameworkRecord {
  protected static override readonly dialectSchema: DialectSchema = {
    postgres: { columns: { key: { collation: 'C' } } },
    mysql: {
      engine: 'InnoDB',
      strings: { charset: 'utf8mb4', collation: 'utf8mb4_bin' },
      columns: { payload: { type: 'longtext' } },
    },
  };

  @PrimaryColumn({ name: 'tx_id', type: 'varchar', length: 36, primaryKeyConstraintName: 'pk_rmq_half_message' })
  txId!: string;

  @Column({ name: 'message_id', type: 'varchar', length: 36 })
  messageId!: string;

  @Column({ name: 'producer_group', type: 'varchar', length: 127 })
  producerGroup!: string;

  @Column({ type: 'varchar', length: 127 })
  topic!: string;

  @Column({ name: 'msg_key', type: 'varchar', length: 191, nullable: true })
  key!: string | null;

  /** JSON array of tags, or null. */
  @Column({ type: 'text', nullable: true })
  tags!: string | null;

  /** JSON object of string headers. */
  @Column({ type: 'text' })
  headers!: string;

  /** The payload's JSON text. */
  @Column({ type: 'text' })
  payload!: string;

  @Column({ name: 'deliver_at', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  deliverAt!: number | null;

  @Column({ type: 'varchar', length: 16 })
  state!: string;

  @Column({ name: 'check_count', type: 'int', default: 0 })
  checkCount!: number;

  @Column({ name: 'next_check_at', type: 'bigint', transformer: bigintAsNumber })
  nextCheckAt!: number;

  @Column({ name: 'sent_at', type: 'bigint', transformer: bigintAsNumber })
  sentAt!: number;

  @Column({ type: 'text', nullable: true })
  reason!: string | null;

  @Column({ name: 'resolved_at', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  resolvedAt!: number | null;

  @Column({ name: 'resolved_by', type: 'varchar', length: 16, nullable: true })
  resolvedBy!: string | null;
}
