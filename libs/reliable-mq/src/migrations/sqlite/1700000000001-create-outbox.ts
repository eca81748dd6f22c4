import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The transactional outbox on SQLite. `seq` is the rowid (INTEGER PRIMARY KEY); AUTOINCREMENT stops SQLite from
 * reusing the number of a deleted newest row, so `seq` only ever grows. SQLite compares text byte by byte, so keys
 * differing in case stay distinct. The key index only holds unsent rows (see the PostgreSQL migration). Idempotent.
 */
export class CreateOutboxSqlite1700000000001 implements MigrationInterface {
  name = 'CreateOutboxSqlite1700000000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE IF NOT EXISTS "rmq_outbox" (
        "seq" integer PRIMARY KEY AUTOINCREMENT NOT NULL,
        "id" varchar(36) NOT NULL,
        "producer_group" varchar(127) NOT NULL,
        "topic" varchar(127) NOT NULL,
        "msg_key" varchar(191) NULL,
        "tags" text NULL,
        "headers" text NOT NULL,
        "payload" text NOT NULL,
        "status" varchar(16) NOT NULL DEFAULT 'pending',
        "attempts" integer NOT NULL DEFAULT 0,
        "next_attempt_at" bigint NOT NULL,
        "deliver_at" bigint NULL,
        "created_at" bigint NOT NULL,
        "sent_at" bigint NULL,
        "lease_owner" varchar(191) NULL,
        "lease_until" bigint NULL,
        "last_error" text NULL,
        CONSTRAINT "ck_rmq_outbox_status" CHECK ("status" IN ('pending', 'sent', 'dead'))
      )`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX IF NOT EXISTS "uq_rmq_outbox_id" ON "rmq_outbox" ("id")`);
    await queryRunner.query(`CREATE INDEX IF NOT EXISTS "idx_rmq_outbox_status_seq" ON "rmq_outbox" ("status", "seq")`);
    await queryRunner.query(
      `CREATE INDEX IF NOT EXISTS "idx_rmq_outbox_key_seq" ON "rmq_outbox" ("msg_key", "seq") WHERE "status" <> 'sent'`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE IF EXISTS "rmq_outbox"`);
  }
}
