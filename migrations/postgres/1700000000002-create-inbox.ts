import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The inbox of the `db` dedup store, in the current schema. The primary key is the dedup check; the "C" collation
 * compares bytes, so keys differing in case or trailing spaces stay distinct, whatever the database's locale.
 * Idempotent.
 */
export class CreateInboxPostgres1700000000002 implements MigrationInterface {
  name = 'CreateInboxPostgres1700000000002';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE IF NOT EXISTS "rmq_inbox" (` +
        `"group_name" varchar(191) COLLATE "C" NOT NULL, ` +
        `"dedup_key" varchar(191) COLLATE "C" NOT NULL, ` +
        `"processed_at" bigint NOT NULL, ` +
        `CONSTRAINT "pk_rmq_inbox" PRIMARY KEY ("group_name", "dedup_key"))`,
    );
    await queryRunner.query(`CREATE INDEX IF NOT EXISTS "idx_rmq_inbox_processed_at" ON "rmq_inbox" ("processed_at")`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE IF EXISTS "rmq_inbox"`);
  }
}
