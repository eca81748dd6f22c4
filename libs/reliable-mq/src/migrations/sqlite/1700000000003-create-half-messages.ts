import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Transactional (half) messages kept in the producer's database, for transports whose broker has none (RabbitMQ).
 * See the PostgreSQL migration. Idempotent.
 */
export class CreateHalfMessagesSqlite1700000000003 implements MigrationInterface {
  name = 'CreateHalfMessagesSqlite1700000000003';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE IF NOT EXISTS "rmq_half_message" (
        "tx_id" varchar(36) PRIMARY KEY NOT NULL,
        "message_id" varchar(36) NOT NULL,
        "producer_group" varchar(127) NOT NULL,
        "topic" varchar(127) NOT NULL,
        "msg_key" varchar(191) NULL,
        "tags" text NULL,
        "headers" text NOT NULL,
        "payload" text NOT NULL,
        "deliver_at" bigint NULL,
        "state" varchar(16) NOT NULL,
        "check_count" integer NOT NULL DEFAULT 0,
        "next_check_at" bigint NOT NULL,
        "sent_at" bigint NOT NULL,
        "reason" text NULL,
        "resolved_at" bigint NULL,
        "resolved_by" varchar(16) NULL,
        CONSTRAINT "ck_rmq_half_message_state" CHECK ("state" IN ('unresolved', 'committed', 'rolled_back', 'discarded'))
      )`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX IF NOT EXISTS "uq_rmq_half_message_id" ON "rmq_half_message" ("message_id")`,
    );
    await queryRunner.query(
      `CREATE INDEX IF NOT EXISTS "idx_rmq_half_message_due" ON "rmq_half_message" ("state", "next_check_at")`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE IF EXISTS "rmq_half_message"`);
  }
}
