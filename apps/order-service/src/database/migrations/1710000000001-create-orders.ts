import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The order service's own tables. The framework's tables (outbox, inbox) come from its migrations. */
export class CreateOrders1710000000001 implements MigrationInterface {
  name = 'CreateOrders1710000000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "orders" (
        "id" varchar(36) PRIMARY KEY NOT NULL,
        "customer_id" varchar(64) NOT NULL,
        "amount_cents" integer NOT NULL,
        "card" varchar(19) NOT NULL,
        "status" varchar(16) NOT NULL,
        "created_at" integer NOT NULL,
        "updated_at" integer NOT NULL,
        CONSTRAINT "ck_orders_status" CHECK ("status" IN ('PENDING', 'PAID', 'FAILED'))
      )`,
    );
    await queryRunner.query(`CREATE INDEX "idx_orders_customer" ON "orders" ("customer_id", "created_at")`);
    await queryRunner.query(
      `CREATE TABLE "order_history" (
        "id" integer PRIMARY KEY AUTOINCREMENT NOT NULL,
        "order_id" varchar(36) NOT NULL,
        "status" varchar(16) NOT NULL,
        "note" varchar(500) NOT NULL,
        "at" integer NOT NULL
      )`,
    );
    await queryRunner.query(`CREATE INDEX "idx_order_history_order" ON "order_history" ("order_id", "id")`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "order_history"`);
    await queryRunner.query(`DROP TABLE "orders"`);
  }
}
