import type { MigrationInterface, QueryRunner } from 'typeorm';

interface TableDefinition {
  name: string;
  /** Column and constraint definitions, as migrations 1 and 3 wrote them. */
  definitions: readonly string[];
  /** The statements that create its indexes, as migrations 1 and 3 wrote them. */
  indexes: readonly string[];
  /** Whether it has an AUTOINCREMENT key, whose high-water mark must survive the copy. */
  autoincrement: boolean;
}

const TABLES: readonly TableDefinition[] = [
  {
    name: 'rmq_outbox',
    definitions: [
      `"seq" integer PRIMARY KEY AUTOINCREMENT NOT NULL`,
      `"id" varchar(36) NOT NULL`,
      `"producer_group" varchar(127) NOT NULL`,
      `"topic" varchar(127) NOT NULL`,
      `"msg_key" varchar(191) NULL`,
      `"tags" text NULL`,
      `"headers" text NOT NULL`,
      `"payload" text NOT NULL`,
      `"status" varchar(16) NOT NULL DEFAULT 'pending'`,
      `"attempts" integer NOT NULL DEFAULT 0`,
      `"next_attempt_at" bigint NOT NULL`,
      `"deliver_at" bigint NULL`,
      `"created_at" bigint NOT NULL`,
      `"sent_at" bigint NULL`,
      `"lease_owner" varchar(191) NULL`,
      `"lease_until" bigint NULL`,
      `"last_error" text NULL`,
      `CONSTRAINT "uq_rmq_outbox_id" UNIQUE ("id")`,
      `CONSTRAINT "ck_rmq_outbox_status" CHECK ("status" IN ('pending', 'sent', 'dead'))`,
    ],
    indexes: [
      `CREATE INDEX "idx_rmq_outbox_status_seq" ON "rmq_outbox" ("status", "seq")`,
      `CREATE INDEX "idx_rmq_outbox_key_seq" ON "rmq_outbox" ("msg_key", "seq") WHERE "status" <> 'sent'`,
    ],
    autoincrement: true,
  },
  {
    name: 'rmq_half_message',
    definitions: [
      `"tx_id" varchar(36) PRIMARY KEY NOT NULL`,
      `"message_id" varchar(36) NOT NULL`,
      `"producer_group" varchar(127) NOT NULL`,
      `"topic" varchar(127) NOT NULL`,
      `"msg_key" varchar(191) NULL`,
      `"tags" text NULL`,
      `"headers" text NOT NULL`,
      `"payload" text NOT NULL`,
      `"deliver_at" bigint NULL`,
      `"state" varchar(16) NOT NULL`,
      `"check_count" integer NOT NULL DEFAULT 0`,
      `"next_check_at" bigint NOT NULL`,
      `"sent_at" bigint NOT NULL`,
      `"reason" text NULL`,
      `"resolved_at" bigint NULL`,
      `"resolved_by" varchar(16) NULL`,
      `CONSTRAINT "uq_rmq_half_message_id" UNIQUE ("message_id")`,
      `CONSTRAINT "ck_rmq_half_message_state" CHECK ("state" IN ('unresolved', 'committed', 'rolled_back', 'discarded'))`,
    ],
    indexes: [`CREATE INDEX "idx_rmq_half_message_due" ON "rmq_half_message" ("state", "next_check_at")`],
    autoincrement: false,
  },
];

const createTable = (name: string, definitions: readonly string[]): string =>
  `CREATE TABLE "${name}" (${definitions.join(', ')})`;

/**
 * Rewrites the outbox and half-message tables of migrations 1 and 3 with the same columns, keys, indexes and rows,
 * their definition on one line. SQLite keeps a table's CREATE statement as written, and TypeORM reads CHECK
 * constraints from it with a pattern that stops at a line break: it missed the status checks of the multi-line
 * originals, so `migration:generate` and `synchronize` wanted to rebuild both tables (losing the AUTOINCREMENT
 * high-water mark, which this copy keeps, so `seq` still never reuses a number). Skips a table that already has
 * this form; the copy runs inside the migration's transaction.
 */
export class RebuildTablesSqlite1700000000004 implements MigrationInterface {
  name = 'RebuildTablesSqlite1700000000004';

  async up(queryRunner: QueryRunner): Promise<void> {
    for (const table of TABLES) await rebuild(queryRunner, table);
  }

  async down(): Promise<void> {
    // The tables before and after differ only in how their CREATE statements are laid out.
  }
}

async function rebuild(queryRunner: QueryRunner, table: TableDefinition): Promise<void> {
  const [current] = (await queryRunner.query(`SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?`, [
    table.name,
  ])) as Array<{ sql: string }>;
  if (!current || current.sql === createTable(table.name, table.definitions)) return;
  const copy = `${table.name}_rebuild`;
  const columns = table.definitions
    .filter((definition) => definition.startsWith('"'))
    .map((definition) => definition.slice(0, definition.indexOf('"', 1) + 1))
    .join(', ');
  await queryRunner.query(createTable(copy, table.definitions));
  await queryRunner.query(`INSERT INTO "${copy}" (${columns}) SELECT ${columns} FROM "${table.name}"`);
  if (table.autoincrement) {
    // The next seq must stay above every seq ever given out, including those of deleted rows.
    await queryRunner.query(`DELETE FROM sqlite_sequence WHERE name = ?`, [copy]);
    await queryRunner.query(
      `INSERT INTO sqlite_sequence (name, seq)
       SELECT ?, MAX(seq) FROM (SELECT seq FROM sqlite_sequence WHERE name = ? UNION ALL SELECT MAX(seq) FROM "${copy}")
       HAVING MAX(seq) IS NOT NULL`,
      [copy, table.name],
    );
  }
  await queryRunner.query(`DROP TABLE "${table.name}"`);
  // Renaming also renames the table's sqlite_sequence entry.
  await queryRunner.query(`ALTER TABLE "${copy}" RENAME TO "${table.name}"`);
  for (const statement of table.indexes) await queryRunner.query(statement);
}
