import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The transactional outbox on MySQL and MariaDB. `utf8mb4_bin` makes keys that differ in case distinct (the usual
 * default collation would order `A` and `a` as one key); 191 characters keep `msg_key` within the index limit.
 * Payloads are LONGTEXT because TEXT stops at 64 KiB, below the default 1 MiB payload limit. (status, seq) lets the
 * relay's claim read the oldest pending rows in order and lock only the batch it takes; without it InnoDB walks
 * the primary key through every sent row. The key index leads with (msg_key, status) so the relay's "earlier unsent
 * row of this key?" check skips the key's sent rows, as the partial index does on PostgreSQL. Idempotent.
 */
export class CreateOutboxMysql1700000000001 implements MigrationInterface {
  name = 'CreateOutboxMysql1700000000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      'CREATE TABLE IF NOT EXISTS `rmq_outbox` (' +
        '`seq` bigint NOT NULL AUTO_INCREMENT, ' +
        '`id` varchar(36) NOT NULL, ' +
        '`producer_group` varchar(127) NOT NULL, ' +
        '`topic` varchar(127) NOT NULL, ' +
        '`msg_key` varchar(191) NULL, ' +
        '`tags` text NULL, ' +
        '`headers` mediumtext NOT NULL, ' +
        '`payload` longtext NOT NULL, ' +
        "`status` varchar(16) NOT NULL DEFAULT 'pending', " +
        '`attempts` int NOT NULL DEFAULT 0, ' +
        '`next_attempt_at` bigint NOT NULL, ' +
        '`deliver_at` bigint NULL, ' +
        '`created_at` bigint NOT NULL, ' +
        '`sent_at` bigint NULL, ' +
        '`lease_owner` varchar(191) NULL, ' +
        '`lease_until` bigint NULL, ' +
        '`last_error` text NULL, ' +
        'PRIMARY KEY (`seq`), ' +
        'UNIQUE KEY `uq_rmq_outbox_id` (`id`), ' +
        'KEY `idx_rmq_outbox_status_seq` (`status`, `seq`), ' +
        'KEY `idx_rmq_outbox_key_seq` (`msg_key`, `status`, `seq`), ' +
        "CONSTRAINT `ck_rmq_outbox_status` CHECK (`status` IN ('pending', 'sent', 'dead'))" +
        ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin',
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DROP TABLE IF EXISTS `rmq_outbox`');
  }
}
