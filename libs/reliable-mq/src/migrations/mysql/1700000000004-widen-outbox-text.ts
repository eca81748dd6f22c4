import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The outbox's text columns and the type migration 1 gives each. */
const WIDTHS = { headers: 'mediumtext', payload: 'longtext' } as const;
const RANK: Readonly<Record<string, number>> = { tinytext: 0, text: 1, mediumtext: 2, longtext: 3 };

/**
 * Widens `headers` and `payload` in place on an outbox table that migration 1 did not create: `synchronize` with
 * the entity of earlier versions made them TEXT, which stops at 64 KiB. The entity now declares migration 1's
 * types, and TypeORM changes a MySQL column's type by dropping and re-adding the column, which would empty those
 * columns of every row still waiting to be sent; this keeps them. A no-op on tables migration 1 created.
 */
export class WidenOutboxTextMysql1700000000004 implements MigrationInterface {
  name = 'WidenOutboxTextMysql1700000000004';

  async up(queryRunner: QueryRunner): Promise<void> {
    const rows = (await queryRunner.query(
      `SELECT COLUMN_NAME AS name, DATA_TYPE AS type FROM information_schema.COLUMNS
       WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'rmq_outbox' AND COLUMN_NAME IN ('headers', 'payload')`,
    )) as Array<{ name: keyof typeof WIDTHS; type: string }>;
    const changes = rows
      .filter((row) => (RANK[row.type.toLowerCase()] ?? 0) < RANK[WIDTHS[row.name]]!)
      .map((row) => `MODIFY \`${row.name}\` ${WIDTHS[row.name]} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL`);
    if (changes.length > 0) await queryRunner.query(`ALTER TABLE \`rmq_outbox\` ${changes.join(', ')}`);
  }

  async down(): Promise<void> {
    // Narrowing the columns back could cut payloads short.
  }
}
