import type { Database } from 'better-sqlite3';
import { InvalidArgumentError } from '../errors';

/** The most rows one page of a listing returns. */
const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;

export interface PageRequest {
  limit?: number;
  offset?: number;
}

export interface Page {
  limit: number;
  offset: number;
}

/** The page a listing asked for, with defaults filled in; a limit or offset out of range is refused. */
export function pageOf(request: PageRequest): Page {
  const limit = request.limit ?? DEFAULT_PAGE;
  const offset = request.offset ?? 0;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw new InvalidArgumentError(`limit must be an integer from 1 to ${MAX_PAGE}; got ${limit}.`);
  }
  if (!Number.isInteger(offset) || offset < 0) {
    throw new InvalidArgumentError(`offset must be a non-negative integer; got ${offset}.`);
  }
  return { limit, offset };
}

/**
 * The filters of a listing: conditions ANDed into one WHERE clause, with their positional parameters in order. Values
 * are always bound, never spliced into the SQL.
 */
export class WhereBuilder {
  private readonly conditions: string[] = [];
  private readonly params: unknown[] = [];

  /** Adds `condition` with one parameter per `?` in it. */
  add(condition: string, ...params: unknown[]): this {
    this.conditions.push(condition);
    this.params.push(...params);
    return this;
  }

  /** Adds `condition` when `value` is defined, binding `value` to each `?` in it. */
  whenDefined(value: unknown, condition: string): this {
    if (value === undefined) return this;
    const placeholders = condition.split('?').length - 1;
    return this.add(condition, ...Array.from({ length: placeholders }, () => value));
  }

  /** `WHERE …`, or nothing when no filter was added. */
  get clause(): string {
    return this.conditions.length > 0 ? `WHERE ${this.conditions.join(' AND ')}` : '';
  }

  get parameters(): readonly unknown[] {
    return this.params;
  }
}

/** One page of `table`'s rows that match `where`, in `orderBy` order, and how many match in all. */
export function selectPage<Row>(
  db: Database,
  table: string,
  where: WhereBuilder,
  orderBy: string,
  page: Page,
): { total: number; rows: Row[] } {
  const params = where.parameters;
  const total = (db.prepare(`SELECT COUNT(*) AS n FROM ${table} ${where.clause}`).get(...params) as { n: number }).n;
  const rows = db
    .prepare(`SELECT * FROM ${table} ${where.clause} ORDER BY ${orderBy} LIMIT ? OFFSET ?`)
    .all(...params, page.limit, page.offset) as Row[];
  return { total, rows };
}
