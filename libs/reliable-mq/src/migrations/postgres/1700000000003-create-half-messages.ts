import type { MigrationInterface, QueryRunner } from 'typeorm';
import { frameworkTable } from '../framework-table';

/**
 * Transactional (half) messages kept in the producer's database, for transports whose broker has none (RabbitMQ):
 * a row is written before the local transaction runs, and its commit moves the message into `rmq_outbox` in the
 * same database transaction. (state, next_check_at) finds the half messages due for a checkback. Idempotent.
 */
export class CreateHalfMessagesPostgres1700000000003 implements MigrationInterface {
  name = 'CreateHalfMessagesPostgres1700000000003';

  async up(queryRunner: QueryRunner): Promise<void> {
    const table = frameworkTable(queryRunner, 'rmq_half_message');
    await queryRunner.query(
      `CREATE TABLE IF NOT EXISTS ${table} (
        "tx_id" varchar(36) NOT NULL,
        "message_id" varchar(36) NOT NULL,
        "producer_group" varchar(127) NOT NULL,
        "topic" varchar(127) NOT NULL,
        "msg_key" varchar(191) COLLATE "C" NULL,
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
        CONSTRAINT "pk_rmq_half_message" PRIMARY KEY ("tx_id"),
        CONSTRAINT "uq_rmq_half_message_id" UNIQUE ("message_id"),
        CONSTRAINT "ck_rmq_half_message_state" CHECK ("state" IN ('unresolved', 'committed', 'rolled_back', 'discarded'))
      )`,
    );
    await queryRunner.query(
      `CREATE INDEX IF NOT EXISTS "idx_rmq_half_message_due" ON ${table} ("state", "next_check_at")`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE IF EXISTS ${frameworkTable(queryRunner, 'rmq_half_message')}`);
  }
}
