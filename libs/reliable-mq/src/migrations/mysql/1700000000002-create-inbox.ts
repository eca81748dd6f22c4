import type { MigrationInterface, QueryRunner } from 'typeorm';
import { frameworkTable } from '../framework-table';

/** Binary collations that also count trailing spaces, best first: MariaDB ≥ 10.2, then MySQL ≥ 8.0. */
const NO_PAD_BINARY_COLLATIONS = ['utf8mb4_nopad_bin', 'utf8mb4_0900_bin'];

/**
 * The inbox of the `db` dedup store, for MySQL and MariaDB. The primary key is the dedup check, so its columns
 * must compare exactly: the server's default collation usually ignores case, and `utf8mb4_bin` ignores trailing
 * spaces, either of which would turn distinct business keys into false duplicates. The migration picks a binary
 * no-pad collation that the server has, and falls back to `utf8mb4_bin` on servers that have none. 191 characters of
 * utf8mb4 keep each key column within the index limit. Idempotent.
 */
export class CreateInboxMysql1700000000002 implements MigrationInterface {
  name = 'CreateInboxMysql1700000000002';

  async up(queryRunner: QueryRunner): Promise<void> {
    const table = frameworkTable(queryRunner, 'rmq_inbox');
    const rows: Array<{ name: string }> = await queryRunner.query(
      `SELECT COLLATION_NAME AS name FROM information_schema.COLLATIONS WHERE COLLATION_NAME IN (?, ?)`,
      NO_PAD_BINARY_COLLATIONS,
    );
    const available = new Set(rows.map((row) => row.name));
    const collation = NO_PAD_BINARY_COLLATIONS.find((name) => available.has(name)) ?? 'utf8mb4_bin';
    await queryRunner.query(
      `CREATE TABLE IF NOT EXISTS ${table} (` +
        '`group_name` varchar(191) NOT NULL, ' +
        '`dedup_key` varchar(191) NOT NULL, ' +
        '`processed_at` bigint NOT NULL, ' +
        'PRIMARY KEY (`group_name`, `dedup_key`), ' +
        'KEY `idx_rmq_inbox_processed_at` (`processed_at`)' +
        `) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${collation}`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const table = frameworkTable(queryRunner, 'rmq_inbox');
    await queryRunner.query(`DROP TABLE IF EXISTS ${table}`);
  }
}
