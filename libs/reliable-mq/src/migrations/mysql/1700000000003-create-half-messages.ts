import type { MigrationInterface, QueryRunner } from 'typeorm';
import { frameworkTable } from '../framework-table';

/**
 * Transactional (half) messages kept in the producer's database, for transports whose broker has none (RabbitMQ).
 * See the PostgreSQL migration. `utf8mb4_bin` keeps keys that differ in case distinct. Idempotent.
 */
export class CreateHalfMessagesMysql1700000000003 implements MigrationInterface {
  name = 'CreateHalfMessagesMysql1700000000003';

  async up(queryRunner: QueryRunner): Promise<void> {
    const table = frameworkTable(queryRunner, 'rmq_half_message');
    await queryRunner.query(
      `CREATE TABLE IF NOT EXISTS ${table} (` +
        '`tx_id` varchar(36) NOT NULL, ' +
        '`message_id` varchar(36) NOT NULL, ' +
        '`producer_group` varchar(127) NOT NULL, ' +
        '`topic` varchar(127) NOT NULL, ' +
        '`msg_key` varchar(191) NULL, ' +
        '`tags` text NULL, ' +
        '`headers` text NOT NULL, ' +
        '`payload` longtext NOT NULL, ' +
        '`deliver_at` bigint NULL, ' +
        '`state` varchar(16) NOT NULL, ' +
        '`check_count` int NOT NULL DEFAULT 0, ' +
        '`next_check_at` bigint NOT NULL, ' +
        '`sent_at` bigint NOT NULL, ' +
        '`reason` text NULL, ' +
        '`resolved_at` bigint NULL, ' +
        '`resolved_by` varchar(16) NULL, ' +
        'PRIMARY KEY (`tx_id`), ' +
        'UNIQUE KEY `uq_rmq_half_message_id` (`message_id`), ' +
        'KEY `idx_rmq_half_message_due` (`state`, `next_check_at`)' +
        ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin',
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE IF EXISTS ${frameworkTable(queryRunner, 'rmq_half_message')}`);
  }
}
