import type { MigrationInterface, QueryRunner } from 'typeorm';
import { frameworkTable } from '../framework-table';

/**
 * The inbox of the `db` dedup store. The primary key is the dedup check. SQLite compares text byte by byte, so keys
 * differing in case or trailing spaces stay distinct. Idempotent.
 */
export class CreateInboxSqlite1700000000002 implements MigrationInterface {
  name = 'CreateInboxSqlite1700000000002';

  async up(queryRunner: QueryRunner): Promise<void> {
    const table = frameworkTable(queryRunner, 'rmq_inbox');
    await queryRunner.query(
      `CREATE TABLE IF NOT EXISTS ${table} (` +
        `"group_name" varchar(191) NOT NULL, ` +
        `"dedup_key" varchar(191) NOT NULL, ` +
        `"processed_at" bigint NOT NULL, ` +
        `PRIMARY KEY ("group_name", "dedup_key"))`,
    );
    await queryRunner.query(`CREATE INDEX IF NOT EXISTS "idx_rmq_inbox_processed_at" ON ${table} ("processed_at")`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const table = frameworkTable(queryRunner, 'rmq_inbox');
    await queryRunner.query(`DROP INDEX IF EXISTS "idx_rmq_inbox_processed_at"`);
    await queryRunner.query(`DROP TABLE IF EXISTS ${table}`);
  }
}
