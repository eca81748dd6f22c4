import type { Database } from 'better-sqlite3';
import type { OutboxMessage } from '@reliable-mq/nestjs';
import { outboxDialect, type OutboxDialect } from '@reliable-mq/nestjs';
import { outboxRowFromRaw } from '@reliable-mq/nestjs';
import type { DataSource } from 'typeorm';

export type OutboxProblem = 'stuck' | 'dead';

/** Sortable columns of the row list and the SQL column each one orders by; `seq` breaks ties. */
const ORDER_COLUMNS = {
  seq: 'seq',
  id: 'id',
  topic: 'topic',
  key: 'msg_key',
  attempts: 'attempts',
  createdAt: 'created_at',
  nextAttemptAt: 'next_attempt_at',
  error: 'last_error',
} as const;

export type OutboxOrderColumn = keyof typeof ORDER_COLUMNS;

export interface OutboxRowQuery {
  state: OutboxProblem;
  topic?: string;
  key?: string;
  /** `created_at` before this makes a pending row stuck. */
  stuckBefore: number;
  limit: number;
  offset: number;
  /** Default `seq` ascending: oldest first. */
  order?: { column: OutboxOrderColumn; dir: 'asc' | 'desc' };
}

export interface OutboxCounts {
  pending: number;
  stuck: number;
  dead: number;
  /** `created_at` of the oldest pending row. */
  oldestPendingAt: number | null;
}

export interface HalfMessageCounts {
  unresolved: number;
  discarded: number;
}

/** The framework's half-message table; the console reads it by name, as it reads `rmq_outbox` through the dialect. */
const HALF_MESSAGE_TABLE = 'rmq_half_message';

export interface OutboxTopicCounts {
  topic: string;
  stuck: number;
  dead: number;
}

interface Result {
  rows: Array<Record<string, unknown>>;
  affected: number;
}

/**
 * The console's statements on one service's `rmq_outbox`, for SQLite, PostgreSQL and MySQL/MariaDB. Reads use the
 * status index (pending and dead rows only, never a scan of the sent ones). Changes touch only rows no relay holds
 * a live lease on, so a requeue or discard never races a send in progress.
 *
 * On SQLite, TypeORM shares one connection with the service's own code: statements run on the raw handle only while
 * it is outside any transaction, as the relay's do, so they never join (and never roll back with) a handler's
 * transaction.
 */
export class OutboxConsoleStore {
  readonly dialect: OutboxDialect;

  constructor(private readonly dataSource: DataSource) {
    this.dialect = outboxDialect(dataSource);
  }

  async rows(query: OutboxRowQuery): Promise<{ total: number; items: OutboxMessage[] }> {
    const { where, params } = this.where(query);
    const t = this.dialect.table;
    const p = this.dialect.param;
    const total = Number((await this.run(`SELECT COUNT(*) AS n FROM ${t} WHERE ${where}`, params)).rows[0]?.n ?? 0);
    const next = params.length;
    const page = await this.run(
      `SELECT * FROM ${t} WHERE ${where} ORDER BY ${this.orderBy(query.order)} LIMIT ${p(next + 1)} OFFSET ${p(next + 2)}`,
      [...params, query.limit, query.offset],
    );
    return { total, items: page.rows.map(outboxRowFromRaw) };
  }

  async counts(stuckBefore: number): Promise<OutboxCounts> {
    const t = this.dialect.table;
    const p = this.dialect.param;
    const pending = await this.run(
      `SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM ${t} WHERE status = 'pending'`,
      [],
    );
    const stuck = await this.run(`SELECT COUNT(*) AS n FROM ${t} WHERE status = 'pending' AND created_at < ${p(1)}`, [
      stuckBefore,
    ]);
    const dead = await this.run(`SELECT COUNT(*) AS n FROM ${t} WHERE status = 'dead'`, []);
    const oldest = pending.rows[0]?.oldest;
    return {
      pending: Number(pending.rows[0]?.n ?? 0),
      stuck: Number(stuck.rows[0]?.n ?? 0),
      dead: Number(dead.rows[0]?.n ?? 0),
      oldestPendingAt: oldest === null || oldest === undefined ? null : Number(oldest),
    };
  }

  async countsByTopic(stuckBefore: number): Promise<OutboxTopicCounts[]> {
    const t = this.dialect.table;
    const p = this.dialect.param;
    const result = await this.run(
      `SELECT topic,
              SUM(CASE WHEN status = 'pending' AND created_at < ${p(1)} THEN 1 ELSE 0 END) AS stuck,
              SUM(CASE WHEN status = 'dead' THEN 1 ELSE 0 END) AS dead
       FROM ${t} WHERE status IN ('pending', 'dead') GROUP BY topic`,
      [stuckBefore],
    );
    return result.rows
      .map((row) => ({ topic: String(row.topic), stuck: Number(row.stuck ?? 0), dead: Number(row.dead ?? 0) }))
      .filter((row) => row.stuck > 0 || row.dead > 0);
  }

  /**
   * Half messages the service keeps in its own database (`rmq_half_message`: on RabbitMQ, where the framework keeps
   * them beside the outbox), by state; null when the database has no such table or it cannot be read.
   */
  async halfCounts(): Promise<HalfMessageCounts | null> {
    const schema = (this.dataSource.options as { schema?: string }).schema;
    const table =
      this.dialect.name === 'postgres' && schema
        ? `${this.dialect.quote(schema)}.${this.dialect.quote(HALF_MESSAGE_TABLE)}`
        : this.dialect.quote(HALF_MESSAGE_TABLE);
    try {
      const result = await this.run(
        `SELECT state, COUNT(*) AS n FROM ${table} WHERE state IN ('unresolved', 'discarded') GROUP BY state`,
        [],
      );
      const counts: HalfMessageCounts = { unresolved: 0, discarded: 0 };
      for (const row of result.rows) {
        if (row.state === 'unresolved' || row.state === 'discarded') counts[row.state] = Number(row.n ?? 0);
      }
      return counts;
    } catch {
      return null;
    }
  }

  async byIds(ids: readonly string[]): Promise<OutboxMessage[]> {
    if (ids.length === 0) return [];
    const result = await this.run(`SELECT * FROM ${this.dialect.table} WHERE id IN (${this.list(1, ids.length)})`, [
      ...ids,
    ]);
    return result.rows.map(outboxRowFromRaw);
  }

  /** Pending again with a fresh attempt count, due now; rows leased to a relay are left alone. */
  async requeue(ids: readonly string[], now: number): Promise<number> {
    const p = this.dialect.param;
    const result = await this.run(
      `UPDATE ${this.dialect.table}
       SET status = 'pending', attempts = 0, next_attempt_at = ${p(1)}, lease_owner = NULL, lease_until = NULL
       WHERE status IN ('pending', 'dead') AND (lease_until IS NULL OR lease_until < ${p(2)})
         AND id IN (${this.list(3, ids.length)})`,
      [now, now, ...ids],
    );
    return result.affected;
  }

  /** Deletes pending or dead rows no relay holds; the caller keeps what they held in the audit log. */
  async discard(ids: readonly string[], now: number): Promise<number> {
    const p = this.dialect.param;
    const result = await this.run(
      `DELETE FROM ${this.dialect.table}
       WHERE status IN ('pending', 'dead') AND (lease_until IS NULL OR lease_until < ${p(1)})
         AND id IN (${this.list(2, ids.length)})`,
      [now, ...ids],
    );
    return result.affected;
  }

  private where(query: OutboxRowQuery): { where: string; params: unknown[] } {
    const p = this.dialect.param;
    const clauses: string[] = [];
    const params: unknown[] = [];
    if (query.state === 'dead') {
      clauses.push(`status = 'dead'`);
    } else {
      params.push(query.stuckBefore);
      clauses.push(`status = 'pending' AND created_at < ${p(params.length)}`);
    }
    if (query.topic !== undefined) {
      params.push(query.topic);
      clauses.push(`topic = ${p(params.length)}`);
    }
    if (query.key !== undefined) {
      params.push(query.key);
      clauses.push(`msg_key = ${p(params.length)}`);
    }
    return { where: clauses.join(' AND '), params };
  }

  /**
   * Only names from ORDER_COLUMNS reach the SQL, never the caller's text. NULLs sort last either way, the same on
   * every database (PostgreSQL would put them first when descending).
   */
  private orderBy(order: OutboxRowQuery['order']): string {
    if (!order || order.column === 'seq') return `seq ${order?.dir === 'desc' ? 'DESC' : 'ASC'}`;
    if (!Object.hasOwn(ORDER_COLUMNS, order.column)) throw new Error(`Unknown outbox sort column ${order.column}.`);
    const column = ORDER_COLUMNS[order.column];
    const dir = order.dir === 'desc' ? 'DESC' : 'ASC';
    return `CASE WHEN ${column} IS NULL THEN 1 ELSE 0 END, ${column} ${dir}, seq ${dir}`;
  }

  /** Placeholders `first`..`first+count-1`. With `?` placeholders order is position, so callers number them in the order they appear. */
  private list(first: number, count: number): string {
    return Array.from({ length: count }, (_, index) => this.dialect.param(first + index)).join(', ');
  }

  private async run(sql: string, params: unknown[]): Promise<Result> {
    if (this.dialect.name === 'sqlite') return this.runSqlite(sql, params);
    const runner = this.dataSource.createQueryRunner();
    try {
      const result = (await runner.query(sql, params, true)) as { records?: unknown[]; affected?: number };
      return {
        rows: (Array.isArray(result.records) ? result.records : []) as Array<Record<string, unknown>>,
        affected: Number(result.affected ?? 0),
      };
    } finally {
      await runner.release();
    }
  }

  private async runSqlite(sql: string, params: unknown[]): Promise<Result> {
    const deadline = Date.now() + 10_000;
    for (let pause = 1; ; pause = Math.min(pause * 2, 20)) {
      const db = (this.dataSource.driver as unknown as { databaseConnection?: Database }).databaseConnection;
      if (!db || !db.open) throw new Error('The service database is not connected.');
      if (!db.inTransaction) {
        const statement = db.prepare(sql);
        if (statement.reader) return { rows: statement.all(...params) as Array<Record<string, unknown>>, affected: 0 };
        return { rows: [], affected: statement.run(...params).changes };
      }
      if (Date.now() >= deadline) {
        throw new Error('The service database stayed inside a transaction for 10 s; try again.');
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}
