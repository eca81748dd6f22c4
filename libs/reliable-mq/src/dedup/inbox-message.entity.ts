import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { epochMsTransformer } from './epoch-ms.transformer';

export const INBOX_TABLE = 'rmq_inbox';

/**
 * One handled message of the `db` dedup store, written in the handler's own transaction. The primary key on
 * (group_name, dedup_key) is what turns a redelivery into a duplicate.
 *
 * Create the table with the framework's migrations, not with `synchronize`: on MySQL/MariaDB the migration sets a
 * binary, no-pad collation so that keys differing only in case or trailing spaces stay distinct.
 *
 * Values longer than 191 characters are stored as `sha256:<hex>` (see `toInboxKey`).
 */
@Entity({ name: INBOX_TABLE })
@Index('idx_rmq_inbox_processed_at', ['processedAt'])
export class InboxMessage {
  @PrimaryColumn({ name: 'group_name', type: 'varchar', length: 191 })
  groupName!: string;

  @PrimaryColumn({ name: 'dedup_key', type: 'varchar', length: 191 })
  dedupKey!: string;

  /** Epoch milliseconds of the commit's start. */
  @Column({ name: 'processed_at', type: 'bigint', transformer: epochMsTransformer })
  processedAt!: number;
}
