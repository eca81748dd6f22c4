import type { OutboxDialect } from './outbox-dialect';
import type { OutboxMessage } from './outbox-message.entity';
import {
  OUTBOX_ORDER_COLUMNS,
  OUTBOX_ORDER_COLUMN_NAMES,
  type OutboxProblemCounts,
  type OutboxProblemQuery,
} from './outbox-problems';
import { outboxRowFromRaw } from './outbox-row.codec';

export interface StatementResult {
  rows: Array<Record<string, unknown>>;
  affected: number;
}

/** Runs one statement the way its store runs all of its own (SQLite: on the raw handle, between transactions). */
export type StatementExecutor = (sql: string, params: unknown[]) => Promise<StatementResult>;

/**
 * The operator's statements on the outbox, written once for every database; each OutboxStore runs them with its own
 * executor. Reads go through the status index (pending and dead rows), never a scan of the sent ones.
 *
 * Requeue and discard are fenced in the statement itself, as the relay's marks are: they change only pending or dead
 * rows that no relay holds a live lease on. A requeue also clears `lease_owner`, so a relay whose lease had run out
 * while it was still sending finds its sent or failed mark refused afterwards. Sent rows are never changed.
 */
export class OutboxOperatorStatements {
  constructor(
    private readonly dialect: OutboxDialect,
    private readonly execute: StatementExecutor,
  ) {}

  async listProblems(query: OutboxProblemQuery): Promise<{ total: number; items: OutboxMessage[] }> {
    const { where, params } = this.where(query);
    const { table: t, param: p } = this.dialect;
    const counted = await this.execute(`SELECT COUNT(*) AS n FROM ${t} WHERE ${where}`, params);
    const next = params.length;
    const page = await this.execute(
      `SELECT * FROM ${t} WHERE ${where} ORDER BY ${orderBy(query.order)} LIMIT ${p(next + 1)} OFFSET ${p(next + 2)}`,
      [...params, query.limit, query.offset],
    );
    return { total: Number(counted.rows[0]?.n ?? 0), items: page.rows.map(outboxRowFromRaw) };
  }

  async countProblems(stuckBefore: number): Promise<OutboxProblemCounts> {
    const { table: t, param: p } = this.dialect;
    // One pass over the status index gives every figure: per topic, then summed.
    const result = await this.execute(
      `SELECT topic,
              SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END) AS pending,
              SUM(CASE WHEN status = 'pending' AND created_at < ${p(1)} THEN 1 ELSE 0 END) AS stuck,
              SUM(CASE WHEN status = 'dead' THEN 1 ELSE 0 END) AS dead,
              MIN(CASE WHEN status = 'pending' THEN created_at END) AS oldest
       FROM ${t} WHERE status IN ('pending', 'dead') GROUP BY topic`,
      [stuckBefore],
    );
    const counts: OutboxProblemCounts = { pending: 0, stuck: 0, dead: 0, oldestPendingAt: null, byTopic: [] };
    for (const row of result.rows) {
      const stuck = Number(row.stuck ?? 0);
      const dead = Number(row.dead ?? 0);
      counts.pending += Number(row.pending ?? 0);
      counts.stuck += stuck;
      counts.dead += dead;
      if (row.oldest !== null && row.oldest !== undefined) {
        const oldest = Number(row.oldest);
        if (counts.oldestPendingAt === null || oldest < counts.oldestPendingAt) counts.oldestPendingAt = oldest;
      }
      if (stuck > 0 || dead > 0) counts.byTopic.push({ topic: String(row.topic), stuck, dead });
    }
    return counts;
  }

  async findByIds(ids: readonly string[]): Promise<OutboxMessage[]> {
    if (ids.length === 0) return [];
    const result = await this.execute(`SELECT * FROM ${this.dialect.table} WHERE ${this.idIn(1)} ORDER BY seq`, [
      this.idList(ids),
    ]);
    return result.rows.map(outboxRowFromRaw);
  }

  async requeue(ids: readonly string[], now: number): Promise<number> {
    if (ids.length === 0) return 0;
    const p = this.dialect.param;
    const result = await this.execute(
      `UPDATE ${this.dialect.table}
       SET status = 'pending', attempts = 0, next_attempt_at = ${p(1)}, lease_owner = NULL, lease_until = NULL
       WHERE ${this.idIn(2)} AND status IN ('pending', 'dead') AND (lease_until IS NULL OR lease_until < ${p(3)})`,
      [now, this.idList(ids), now],
    );
    return result.affected;
  }

  async discard(ids: readonly string[], now: number): Promise<number> {
    if (ids.length === 0) return 0;
    const p = this.dialect.param;
    const result = await this.execute(
      `DELETE FROM ${this.dialect.table}
       WHERE ${this.idIn(1)} AND status IN ('pending', 'dead') AND (lease_until IS NULL OR lease_until < ${p(2)})`,
      [this.idList(ids), now],
    );
    return result.affected;
  }

  private where(query: OutboxProblemQuery): { where: string; params: unknown[] } {
    const p = this.dialect.param;
    const clauses: string[] = [];
    const params: unknown[] = [];
    if (query.problem === 'dead') {
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
   * `id` is in the list bound to parameter `index`, as one parameter whatever the list's length, so that each
   * statement has one text (and one prepared statement): an array on PostgreSQL, an array expanded by mysql2 on
   * MySQL, JSON read by json_each on SQLite.
   */
  private idIn(index: number): string {
    switch (this.dialect.name) {
      case 'postgres':
        return `id = ANY(${this.dialect.param(index)}::varchar[])`;
      case 'mysql':
        return 'id IN (?)';
      case 'sqlite':
        return 'id IN (SELECT value FROM json_each(?))';
    }
  }

  private idList(ids: readonly string[]): unknown {
    return this.dialect.name === 'sqlite' ? JSON.stringify(ids) : [...ids];
  }
}

/**
 * The operator's half of OutboxStore for a store that runs OutboxOperatorStatements with its own executor: each store
 * only says how a statement runs on its database.
 */
export abstract class OperatorStatementsStore {
  protected abstract readonly operator: OutboxOperatorStatements;

  listProblems(query: OutboxProblemQuery): Promise<{ total: number; items: OutboxMessage[] }> {
    return this.operator.listProblems(query);
  }

  countProblems(stuckBefore: number): Promise<OutboxProblemCounts> {
    return this.operator.countProblems(stuckBefore);
  }

  findByIds(ids: readonly string[]): Promise<OutboxMessage[]> {
    return this.operator.findByIds(ids);
  }

  requeue(ids: readonly string[], now: number): Promise<number> {
    return this.operator.requeue(ids, now);
  }

  discard(ids: readonly string[], now: number): Promise<number> {
    return this.operator.discard(ids, now);
  }
}

/** Only names from OUTBOX_ORDER_COLUMNS reach the SQL, never the caller's text. */
function orderBy(order: OutboxProblemQuery['order']): string {
  const dir = order?.dir === 'desc' ? 'DESC' : 'ASC';
  if (!order || order.column === 'seq') return `seq ${dir}`;
  if (!Object.hasOwn(OUTBOX_ORDER_COLUMNS, order.column)) {
    throw new RangeError(
      `Outbox rows cannot be ordered by "${String(order.column)}"; use one of ${OUTBOX_ORDER_COLUMN_NAMES.join(', ')}.`,
    );
  }
  const column = OUTBOX_ORDER_COLUMNS[order.column];
  // PostgreSQL would put NULLs first when descending; this puts them last everywhere.
  return `CASE WHEN ${column} IS NULL THEN 1 ELSE 0 END, ${column} ${dir}, seq ${dir}`;
}
