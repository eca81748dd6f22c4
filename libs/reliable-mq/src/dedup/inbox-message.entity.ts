import type { DataSource } from 'typeorm';
import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import type { DialectSchema } from '../schema/dialect-schema';
import { FrameworkRecord } from '../schema/framework-record';
import { epochMsTransformer } from '../schema/epoch-ms.transformer';

export const INBOX_TABLE = 'rmq_inbox';

function versionAtLeast(version: string, minimum: string): boolean {
  const have = version.split('.').map(Number);
  const want = minimum.split('.').map(Number);
  for (const [index, part] of want.entries()) {
    const actual = have[index] || 0;
    if (actual !== part) return actual > part;
  }
  return true;
}

/**
 * The binary, no-pad collation the inbox migration would pick on this MySQL/MariaDB server, told from the version
 * TypeORM read when it connected. TypeORM keeps only the number, so a `mysql` DataSource on a 10.x or later server
 * is taken for MariaDB (MySQL has no such version yet; a wrong guess fails loudly with an unknown collation).
 */
export function inboxKeyCollation(dataSource: DataSource): string {
  const version = (dataSource.driver as { version?: string }).version ?? '';
  if (dataSource.options.type === 'mariadb' || versionAtLeast(version, '10')) {
    return version === '' || versionAtLeast(version, '10.2.2') ? 'utf8mb4_nopad_bin' : 'utf8mb4_bin';
  }
  return versionAtLeast(version, '8.0.17') ? 'utf8mb4_0900_bin' : 'utf8mb4_bin';
}

/**
 * One handled message of the `db` dedup store, written in the handler's own transaction. The primary key on
 * (group_name, dedup_key) is what turns a redelivery into a duplicate, so both columns compare exactly: the "C"
 * collation on PostgreSQL, a binary no-pad one on MySQL/MariaDB (the usual default ignores case, and `utf8mb4_bin`
 * ignores trailing spaces; either would turn distinct business keys into false duplicates). SQLite compares bytes.
 * The framework's migrations and `synchronize` create the same table.
 *
 * Values longer than 191 characters are stored as `sha256:<hex>` (see `toInboxKey`).
 */
@Entity({ name: INBOX_TABLE })
@Index('idx_rmq_inbox_processed_at', ['processedAt'])
export class InboxMessage extends FrameworkRecord {
  protected static override readonly dialectSchema: DialectSchema = {
    postgres: { columns: { groupName: { collation: 'C' }, dedupKey: { collation: 'C' } } },
    mysql: { engine: 'InnoDB', strings: { charset: 'utf8mb4', collation: inboxKeyCollation } },
  };

  @PrimaryColumn({ name: 'group_name', type: 'varchar', length: 191, primaryKeyConstraintName: 'pk_rmq_inbox' })
  groupName!: string;

  @PrimaryColumn({ name: 'dedup_key', type: 'varchar', length: 191, primaryKeyConstraintName: 'pk_rmq_inbox' })
  dedupKey!: string;

  /** Epoch milliseconds of the commit's start. */
  @Column({ name: 'processed_at', type: 'bigint', transformer: epochMsTransformer })
  processedAt!: number;
}
