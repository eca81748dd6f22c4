import { Inject, Injectable } from '@nestjs/common';
import { CONSOLE_OPTIONS, CONSOLE_STORE } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import type { ConsoleStore } from '../store/console-store';
import { PayloadRedactor } from '../redaction/payload-redactor';
import type { AuditSortColumn } from './audit-query.dto';

export type AuditOutcome = 'ok' | 'partial' | 'failed' | 'refused' | 'cancelled' | 'interrupted';

export interface AuditEntry {
  id: number;
  /** Epoch ms. */
  at: number;
  /** Username or `token:<name>`; `anonymous` for refused logins. */
  actor: string;
  role: string;
  /** What was done, e.g. `dead-letters.retry`, `outbox.discard`, `auth.login`. */
  action: string;
  /** What it was done to, e.g. `dead-letter 12`, `outbox orders: 3 rows`, a filter. */
  target: string;
  /** How many messages or rows it touched. */
  count: number;
  /** Why, as the operator wrote it. */
  reason: string | null;
  outcome: AuditOutcome;
  /** Anything else worth keeping: ids, the edit, the filter, counts. */
  details: Record<string, unknown> | null;
}

export type NewAuditEntry = Omit<AuditEntry, 'id' | 'at' | 'details' | 'reason'> & {
  reason?: string | null;
  details?: Record<string, unknown> | null;
};

export interface AuditQuery {
  actor?: string;
  /** Exact action, or a prefix ending in `.`, e.g. `dead-letters.`. */
  action?: string;
  /** Substring of the target. */
  target?: string;
  from?: number;
  to?: number;
  limit: number;
  offset: number;
  /** Default newest first. */
  order?: { column: AuditSortColumn; dir: 'asc' | 'desc' };
}

/** The SQL column behind each sortable column; only these names reach the statement. `id` breaks ties. */
const ORDER_COLUMNS: Record<AuditSortColumn, string> = {
  at: 'id',
  actor: 'actor',
  action: 'action',
  target: 'target',
  count: 'count',
  reason: 'reason',
  outcome: 'outcome',
};

/** Details are kept to this size; a larger value is cut and marked, so one action cannot bloat the log. */
const MAX_DETAILS_CHARS = 32 * 1024;

/** An entry as the store keeps it: the details as JSON text. */
type AuditRow = Omit<AuditEntry, 'details'> & { details: string | null };

/** Who did what, when, to how many messages, and why. Append-only except for retention. */
@Injectable()
export class AuditLog {
  private readonly insertStmt;
  /** Called before every read, so that counts kept in memory (aggregated refusals) are stored first. */
  private readonly beforeRead: Array<() => void> = [];

  constructor(
    @Inject(CONSOLE_STORE) private readonly store: ConsoleStore,
    @Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions,
    private readonly redactor: PayloadRedactor,
  ) {
    this.insertStmt = store.db.prepare(
      `INSERT INTO audit (at, actor, role, action, target, count, reason, outcome, details)
       VALUES (@at, @actor, @role, @action, @target, @count, @reason, @outcome, @details)`,
    );
  }

  /**
   * Appends an entry. Payload texts in its details (`payload`, `payloadBefore`, `payloadAfter`, at any depth) are
   * masked by the redaction and cut here, so no caller can store a sensitive field, nor cut a payload in a way that
   * leaves it unreadable to the masking.
   */
  record(entry: NewAuditEntry): AuditEntry {
    let details = entry.details ? JSON.stringify(this.redactor.maskAuditDetails(entry.details)) : null;
    if (details !== null && details.length > MAX_DETAILS_CHARS) {
      // `masked` tells a reader that the head was written with the redaction applied (see shown()).
      details = JSON.stringify({
        truncated: true,
        head: details.slice(0, MAX_DETAILS_CHARS),
        masked: this.redactor.active,
      });
    }
    const at = this.options.now();
    const row = {
      at,
      actor: entry.actor,
      role: entry.role,
      action: entry.action,
      target: entry.target.slice(0, 1000),
      count: entry.count,
      reason: entry.reason ?? null,
      outcome: entry.outcome,
      details,
    };
    const id = Number(this.insertStmt.run(row).lastInsertRowid);
    return toEntry({ id, ...row });
  }

  /** Registers `flush` to run before entries are read. */
  onBeforeRead(flush: () => void): void {
    this.beforeRead.push(flush);
  }

  query(query: AuditQuery): { total: number; items: AuditEntry[] } {
    for (const flush of this.beforeRead) flush();
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.actor !== undefined) {
      where.push('actor = ?');
      params.push(query.actor);
    }
    if (query.action !== undefined) {
      if (query.action.endsWith('.')) {
        where.push('substr(action, 1, ?) = ?');
        params.push(query.action.length, query.action);
      } else {
        where.push('action = ?');
        params.push(query.action);
      }
    }
    if (query.target !== undefined) {
      where.push('instr(target, ?) > 0');
      params.push(query.target);
    }
    if (query.from !== undefined) {
      where.push('at >= ?');
      params.push(query.from);
    }
    if (query.to !== undefined) {
      where.push('at < ?');
      params.push(query.to);
    }
    const clause = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
    const total = (this.store.db.prepare(`SELECT COUNT(*) AS n FROM audit ${clause}`).get(...params) as { n: number })
      .n;
    const rows = this.store.db
      .prepare(`SELECT * FROM audit ${clause} ORDER BY ${orderBy(query.order)} LIMIT ? OFFSET ?`)
      .all(...params, query.limit, query.offset) as AuditRow[];
    return { total, items: rows.map((row) => this.shown(row)) };
  }

  /** Entries whose target names this exact thing, newest first, for a detail view's history. */
  forTarget(target: string, limit = 50): AuditEntry[] {
    for (const flush of this.beforeRead) flush();
    const rows = this.store.db
      .prepare('SELECT * FROM audit WHERE target = ? ORDER BY id DESC LIMIT ?')
      .all(target, limit) as AuditRow[];
    return rows.map((row) => this.shown(row));
  }

  /** An entry as read, with payloads masked again: entries written before a field was configured have it in clear. */
  private shown(row: AuditRow): AuditEntry {
    const entry = toEntry(row);
    if (!entry.details || !this.redactor.active) return entry;
    const details = entry.details;
    // A cut entry written before the redaction was set has payloads in its head that cannot be found any more.
    if (details.truncated === true && details.masked !== true) {
      return { ...entry, details: { truncated: true, head: '[hidden: written before sensitive fields were masked]' } };
    }
    return { ...entry, details: this.redactor.maskStoredAuditDetails(details) };
  }

  prune(): number {
    return this.store.db
      .prepare('DELETE FROM audit WHERE at < ?')
      .run(this.options.now() - this.options.auditRetentionMs).changes;
  }
}

function orderBy(order: AuditQuery['order']): string {
  if (!order) return 'id DESC';
  if (!Object.hasOwn(ORDER_COLUMNS, order.column)) throw new Error(`Unknown audit sort column ${order.column}.`);
  const dir = order.dir === 'desc' ? 'DESC' : 'ASC';
  const column = ORDER_COLUMNS[order.column];
  // Text compares without case, as the other tables do; NULL reasons come last either way.
  const expression = column === 'id' || column === 'count' ? column : `${column} COLLATE NOCASE`;
  return `${column} IS NULL, ${expression} ${dir}, id ${dir}`;
}

function toEntry(row: AuditRow): AuditEntry {
  return { ...row, details: row.details === null ? null : (JSON.parse(row.details) as Record<string, unknown>) };
}
