import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The payment service's own table on PostgreSQL (the SQLite migration of the same number has the same shape).
 * `created_at` is `bigint`: epoch milliseconds do not fit PostgreSQL's 32-bit `integer`.
 */
export class CreatePaymentsPostgres1710000000101 implements MigrationInterface {
  name = 'CreatePaymentsPostgres1710000000101';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "payments" (
        "id" varchar(36) PRIMARY KEY NOT NULL,
        "order_id" varchar(36) NOT NULL,
        "status" varchar(16) NOT NULL,
        "amount_cents" integer NOT NULL,
        "card_last4" varchar(4) NOT NULL,
        "gateway_charge_id" varchar(64) NULL,
        "attempts" integer NOT NULL,
        "reason" varchar(400) NULL,
        "message_id" varchar(36) NOT NULL,
        "created_at" bigint NOT NULL,
        CONSTRAINT "ck_payments_status" CHECK ("status" IN ('SUCCEEDED', 'REFUSED'))
      )`,
    );
    // The last guard against charging an order twice: a second row cannot exist.
    await queryRunner.query(`CREATE UNIQUE INDEX "uq_payments_order" ON "payments" ("order_id")`);
    await queryRunner.query(`CREATE UNIQUE INDEX "uq_payments_message" ON "payments" ("message_id")`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "payments"`);
  }
}
