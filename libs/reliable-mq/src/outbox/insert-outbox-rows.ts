import type { QueryRunner } from 'typeorm';
import type { SerializedMessage } from '../producing/message-serializer';
import { outboxDialect } from './outbox-dialect';
import { OUTBOX_INSERT_COLUMNS, outboxInsertValues, type OutboxInsertValue } from './outbox-row.codec';

/** Rows per INSERT: 12 parameters each stays well below the smallest bind limit (SQLite's 32 766). */
const ROWS_PER_STATEMENT = 500;

/**
 * Writes outbox rows through `queryRunner`, inside whatever transaction it has open. Plain SQL, so the application
 * does not have to register the outbox entity in its DataSource.
 */
export async function insertOutboxRows(
  queryRunner: QueryRunner,
  messages: readonly SerializedMessage[],
  producerGroup: string,
  now: number,
): Promise<void> {
  const dialect = outboxDialect(queryRunner.connection);
  const columns = OUTBOX_INSERT_COLUMNS.map((column) => dialect.quote(column)).join(', ');
  for (let start = 0; start < messages.length; start += ROWS_PER_STATEMENT) {
    const chunk = messages.slice(start, start + ROWS_PER_STATEMENT);
    const parameters: OutboxInsertValue[] = [];
    const tuples = chunk.map((message) => {
      const values = outboxInsertValues(message, producerGroup, now);
      const placeholders = values.map((value) => {
        parameters.push(value);
        return dialect.param(parameters.length);
      });
      return `(${placeholders.join(', ')})`;
    });
    await queryRunner.query(`INSERT INTO ${dialect.table} (${columns}) VALUES ${tuples.join(', ')}`, parameters);
  }
}
