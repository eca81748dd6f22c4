import type { MigrationInterface, QueryRunner } from 'typeorm';
import { frameworkTable } from '../framework-table';

/**
 * The inbox of the `db` dedup store, in the DataSource's `schema` when it has one (else the search_path decides,
 * as for TypeORM's own tables). The primary key is the dedup check; the "C" collation
 * compares bytes, so keys differing in case or trailing spaces stay distinct, whatever the database's locale.
 * Idempotent.
 */
export class CreateInboxPostgres1700000000002 implements MigrationInterface {
  name = 'CreateInboxPostgres1700000000002';

  async up(queryRunner: QueryRunner): Promise<void> {
    const table = frameworkTable(queryRunner, 'rmq_inbox');
    await queryRunner.query(
      `CREATE TABLE IF NOT EXISTS ${table} (` +
        `"group_name" varchar(191) COLLATE "C" NOT NULL, ` +
        `"dedup_key" varchar(191) COLLATE "C" NOT NULL, ` +
        `"processed_at" bigint NOT NULL, ` +
        `CONSTRAINT "pk_rmq_inbox" PRIMARY KEY ("group_name", "dedup_key"))`,
    );
    await queryRunner.query(`CREATE INDEX IF NOT EXISTS "idx_rmq_inbox_processed_at" ON ${table} ("processed_at")`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const table = frameworkTable(queryRunner, 'rmq_inbox');
    await queryRunner.query(`DROP TABLE IF EXISTS ${table}`);
  }
}
