import type { Database as SqliteDatabase, Statement } from 'better-sqlite3';
import { QueryFailedError, type DataSource, type QueryRunner } from 'typeorm';
import type { SerializedMessage } from '../producing/message-serializer';
import { outboxDialect, type OutboxDialect } from './outbox-dialect';
import { OUTBOX_INSERT_COLUMNS, outboxInsertValues, type OutboxInsertValue } from './outbox-row.codec';

/** Rows per INSERT: 12 parameters each stays well below the smallest bind limit (SQLite's 32 766). */
const ROWS_PER_STATEMENT = 500;
/** Statement texts kept per DataSource, by row count: the common batches (one message, a handful). */
const CACHED_ROW_COUNTS = 16;

/** What the insert needs of a DataSource, worked out on its first outbox write and kept while it lives. */
interface InsertPlan {
  dialect: OutboxDialect;
  /** INSERT texts by row count, for counts up to CACHED_ROW_COUNTS. */
  texts: Array<string | undefined>;
  /** better-sqlite3 statements by text, prepared once on the DataSource's single connection. */
  statements: Map<string, Statement>;
}

const plans = new WeakMap<DataSource, InsertPlan>();

function planFor(dataSource: DataSource): InsertPlan {
  let plan = plans.get(dataSource);
  if (!plan) {
    plan = { dialect: outboxDialect(dataSource), texts: [], statements: new Map() };
    plans.set(dataSource, plan);
  }
  return plan;
}

function insertText(plan: InsertPlan, rows: number): string {
  const cached = rows <= CACHED_ROW_COUNTS ? plan.texts[rows] : undefined;
  if (cached) return cached;
  const { dialect } = plan;
  const columns = OUTBOX_INSERT_COLUMNS.map((column) => dialect.quote(column)).join(', ');
  const tuples: string[] = [];
  for (let row = 0; row < rows; row++) {
    const placeholders: string[] = [];
    for (let column = 0; column < OUTBOX_INSERT_COLUMNS.length; column++) {
      placeholders.push(dialect.param(row * OUTBOX_INSERT_COLUMNS.length + column + 1));
    }
    tuples.push(`(${placeholders.join(', ')})`);
  }
  const text = `INSERT INTO ${dialect.table} (${columns}) VALUES ${tuples.join(', ')}`;
  if (rows <= CACHED_ROW_COUNTS) plan.texts[rows] = text;
  return text;
}

/** The driver's own connection under a TypeORM QueryRunner, for the two drivers written to directly. */
interface SqliteQueryRunner {
  driver: { databaseConnection?: SqliteDatabase };
}
interface PostgresClient {
  query(text: string, values: readonly OutboxInsertValue[]): Promise<unknown>;
}
interface PostgresQueryRunner {
  databaseConnection?: PostgresClient;
}

/**
 * Writes outbox rows through `queryRunner`, inside whatever transaction it has open. Plain SQL, so the application
 * does not have to register the outbox entity in its DataSource.
 *
 * This write sits in every business transaction that publishes, so it costs as little as the database allows: one
 * multi-row INSERT whose text is built once per DataSource and row count, and on SQLite and PostgreSQL a call
 * straight to the driver's connection that the transaction runs on (a prepared better-sqlite3 statement; the pg
 * client), without TypeORM's per-query logging and query events. Failures still surface as TypeORM's
 * `QueryFailedError`, as they did through `queryRunner.query`.
 */
export async function insertOutboxRows(
  queryRunner: QueryRunner,
  messages: readonly SerializedMessage[],
  producerGroup: string,
  now: number,
): Promise<void> {
  const plan = planFor(queryRunner.connection);
  for (let start = 0; start < messages.length; start += ROWS_PER_STATEMENT) {
    const end = Math.min(messages.length, start + ROWS_PER_STATEMENT);
    let parameters: OutboxInsertValue[];
    if (end - start === 1) parameters = outboxInsertValues(messages[start]!, producerGroup, now);
    else {
      parameters = [];
      for (let index = start; index < end; index++) {
        for (const value of outboxInsertValues(messages[index]!, producerGroup, now)) parameters.push(value);
      }
    }
    await runInsert(queryRunner, plan, insertText(plan, end - start), parameters);
  }
}

async function runInsert(
  queryRunner: QueryRunner,
  plan: InsertPlan,
  text: string,
  parameters: OutboxInsertValue[],
): Promise<void> {
  if (plan.dialect.name === 'sqlite') {
    // better-sqlite3 runs every transaction on its one connection, so the statement lands in the open one.
    const database = (queryRunner as unknown as SqliteQueryRunner).driver.databaseConnection;
    if (database) {
      let statement = plan.statements.get(text);
      try {
        if (!statement || statement.database !== database) {
          statement = database.prepare(text);
          plan.statements.set(text, statement);
        }
        statement.run(parameters);
      } catch (error) {
        throw new QueryFailedError(text, parameters, error as Error);
      }
      return;
    }
  } else if (plan.dialect.name === 'postgres') {
    // Inside a transaction the runner holds its pooled client; the statement must go to that client.
    const client = (queryRunner as unknown as PostgresQueryRunner).databaseConnection;
    if (client) {
      try {
        await client.query(text, parameters);
      } catch (error) {
        throw new QueryFailedError(text, parameters, error as Error);
      }
      return;
    }
  }
  await queryRunner.query(text, parameters);
}
