import type { HalfMessage, HalfMessagePage, HalfMessageState, HalfResolvedBy } from '@reliable-mq/engine';
import type { DataSource, QueryRunner } from 'typeorm';
import { singleConnectionLockFor } from '../dedup/serial-lock';
import { outboxDialect, type OutboxDialect } from '../outbox/outbox-dialect';

export const HALF_MESSAGE_TABLE = 'rmq_half_message';

/** A half message as stored: the payload is the message's JSON text, as in the outbox. */
export interface HalfMessageRow {
  txId: string;
  messageId: string;
  producerGroup: string;
  topic: string;
  key: string | null;
  tags: string[];
  headers: Record<string, string>;
  payload: string;
  deliverAt: number | null;
  state: HalfMessageState;
  checkCount: number;
  nextCheckAt: number;
  sentAt: number;
  reason: string | null;
  resolvedAt: number | null;
  resolvedBy: HalfResolvedBy | null;
}

export interface HalfListQuery {
  state: HalfMessageState | 'any';
  producerGroup?: string;
  topic?: string;
  /** Transaction id or message id. */
  id?: string;
  limit: number;
  offset: number;
}

interface StructuredResult {
  records?: unknown[];
  affected?: number;
}

const COLUMNS = [
  'tx_id',
  'message_id',
  'producer_group',
  'topic',
  'msg_key',
  'tags',
  'headers',
  'payload',
  'deliver_at',
  'state',
  'check_count',
  'next_check_at',
  'sent_at',
] as const;

const num = (value: unknown): number => (typeof value === 'number' ? value : Number(value));
const nullableNum = (value: unknown): number | null => (value === null || value === undefined ? null : num(value));

function fromRaw(raw: Record<string, unknown>): HalfMessageRow {
  return {
    txId: String(raw.tx_id),
    messageId: String(raw.message_id),
    producerGroup: String(raw.producer_group),
    topic: String(raw.topic),
    key: raw.msg_key === null || raw.msg_key === undefined ? null : String(raw.msg_key),
    tags: raw.tags ? (JSON.parse(String(raw.tags)) as string[]) : [],
    headers: JSON.parse(String(raw.headers)) as Record<string, string>,
    payload: String(raw.payload),
    deliverAt: nullableNum(raw.deliver_at),
    state: String(raw.state) as HalfMessageState,
    checkCount: num(raw.check_count),
    nextCheckAt: num(raw.next_check_at),
    sentAt: num(raw.sent_at),
    reason: raw.reason === null || raw.reason === undefined ? null : String(raw.reason),
    resolvedAt: nullableNum(raw.resolved_at),
    resolvedBy: (raw.resolved_by ?? null) as HalfResolvedBy | null,
  };
}

export function toHalfMessage(row: HalfMessageRow): HalfMessage {
  return {
    txId: row.txId,
    messageId: row.messageId,
    producerGroup: row.producerGroup,
    topic: row.topic,
    key: row.key,
    tags: row.tags,
    headers: row.headers,
    body: Buffer.from(row.payload, 'utf8'),
    sentAt: row.sentAt,
    state: row.state,
    checkCount: row.checkCount,
    nextCheckAt: row.nextCheckAt,
    reason: row.reason,
    resolvedAt: row.resolvedAt,
    resolvedBy: row.resolvedBy,
  };
}

/**
 * The statements on `rmq_half_message`, for PostgreSQL, MySQL/MariaDB and SQLite. Every state change is one
 * conditional UPDATE (`WHERE state IN (…)`), so a producer's commit and a checkback answer racing each other
 * change the row once: the second finds the state moved on.
 */
export class HalfMessageStore {
  private readonly dialect: OutboxDialect;
  private readonly table: string;

  constructor(private readonly dataSource: DataSource) {
    this.dialect = outboxDialect(dataSource);
    const schema = (dataSource.options as { schema?: string }).schema;
    this.table =
      this.dialect.name === 'postgres' && schema
        ? `${this.dialect.quote(schema)}.${this.dialect.quote(HALF_MESSAGE_TABLE)}`
        : this.dialect.quote(HALF_MESSAGE_TABLE);
  }

  async insert(row: Omit<HalfMessageRow, 'reason' | 'resolvedAt' | 'resolvedBy'>): Promise<void> {
    const values = [
      row.txId,
      row.messageId,
      row.producerGroup,
      row.topic,
      row.key,
      row.tags.length === 0 ? null : JSON.stringify(row.tags),
      JSON.stringify(row.headers),
      row.payload,
      row.deliverAt,
      row.state,
      row.checkCount,
      row.nextCheckAt,
      row.sentAt,
    ];
    const columns = COLUMNS.map((column) => this.dialect.quote(column)).join(', ');
    const params = values.map((_, index) => this.dialect.param(index + 1)).join(', ');
    await this.execute(`INSERT INTO ${this.table} (${columns}) VALUES (${params})`, values);
  }

  async get(txId: string, runner?: QueryRunner): Promise<HalfMessageRow | undefined> {
    const rows = await this.select(
      `SELECT * FROM ${this.table} WHERE tx_id = ${this.dialect.param(1)}`,
      [txId],
      runner,
    );
    return rows[0];
  }

  async getByMessageId(messageId: string): Promise<HalfMessageRow | undefined> {
    const rows = await this.select(`SELECT * FROM ${this.table} WHERE message_id = ${this.dialect.param(1)}`, [
      messageId,
    ]);
    return rows[0];
  }

  /** Unresolved half messages whose check is due, oldest first. */
  due(now: number, limit: number): Promise<HalfMessageRow[]> {
    const p = this.dialect.param;
    return this.select(
      `SELECT * FROM ${this.table} WHERE state = 'unresolved' AND next_check_at <= ${p(1)} ORDER BY next_check_at LIMIT ${p(2)}`,
      [now, limit],
    );
  }

  /** Takes one check of a due row: true for the one instance whose update saw the row as it was read. */
  async claimCheck(row: HalfMessageRow, nextCheckAt: number): Promise<boolean> {
    const p = this.dialect.param;
    const changed = await this.execute(
      `UPDATE ${this.table} SET check_count = check_count + 1, next_check_at = ${p(1)}
       WHERE tx_id = ${p(2)} AND state = 'unresolved' AND check_count = ${p(3)}`,
      [nextCheckAt, row.txId, row.checkCount],
    );
    return changed === 1;
  }

  /** Moves a row from one of `from` to `to`; resolves whether it changed. Runs in `runner`'s transaction when given. */
  async transition(
    txId: string,
    from: readonly HalfMessageState[],
    to: HalfMessageState,
    by: HalfResolvedBy | null,
    reason: string | null,
    now: number,
    runner?: QueryRunner,
  ): Promise<boolean> {
    const p = this.dialect.param;
    const states = from.map((state) => `'${state}'`).join(', ');
    const changed = await this.execute(
      `UPDATE ${this.table} SET state = ${p(1)}, resolved_by = ${p(2)}, reason = ${p(3)}, resolved_at = ${p(4)}
       WHERE tx_id = ${p(5)} AND state IN (${states})`,
      [to, by, reason, to === 'discarded' ? null : now, txId],
      runner,
    );
    return changed === 1;
  }

  async list(query: HalfListQuery): Promise<HalfMessagePage> {
    const p = this.dialect.param;
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.state !== 'any') {
      params.push(query.state);
      where.push(`state = ${p(params.length)}`);
    }
    if (query.producerGroup !== undefined) {
      params.push(query.producerGroup);
      where.push(`producer_group = ${p(params.length)}`);
    }
    if (query.topic !== undefined) {
      params.push(query.topic);
      where.push(`topic = ${p(params.length)}`);
    }
    if (query.id !== undefined) {
      params.push(query.id, query.id);
      where.push(`(tx_id = ${p(params.length - 1)} OR message_id = ${p(params.length)})`);
    }
    const clause = where.length === 0 ? '1 = 1' : where.join(' AND ');
    const [count] = (await this.select(
      `SELECT COUNT(*) AS n FROM ${this.table} WHERE ${clause}`,
      params,
      undefined,
      true,
    )) as unknown as Array<{
      n: unknown;
    }>;
    params.push(query.limit, query.offset);
    const rows = await this.select(
      `SELECT * FROM ${this.table} WHERE ${clause} ORDER BY sent_at DESC, tx_id DESC LIMIT ${p(params.length - 1)} OFFSET ${p(params.length)}`,
      params,
    );
    return { total: Number(count?.n ?? 0), items: rows.map(toHalfMessage) };
  }

  /**
   * Runs `work` in one database transaction. On SQLite it takes the DataSource's single-connection lock, which
   * the outbox and the `db` dedup store share.
   */
  /**
   * Deletes at most `limit` records resolved (committed, rolled back or discarded) before `cutoffMs`, in one
   * transaction, and answers how many went and the ids of the discarded ones (left undecided by any operator).
   * Unresolved records are never touched.
   */
  async pruneResolved(cutoffMs: number, limit: number): Promise<{ deleted: number; discardedIds: string[] }> {
    const { param: p, quote, name } = this.dialect;
    const resolved = `state IN ('committed', 'rolled_back', 'discarded') AND resolved_at < ${p(1)}`;
    // SQLite has no row locks; its writes are serialised by the DataSource's lock that inTransaction takes.
    const lock = name === 'sqlite' ? '' : ' FOR UPDATE';
    return this.inTransaction(async (runner) => {
      const rows = (await this.select(
        `SELECT tx_id, state FROM ${this.table} WHERE ${resolved} ORDER BY resolved_at LIMIT ${p(2)}${lock}`,
        [cutoffMs, limit],
        runner,
        true,
      )) as unknown as Array<{ tx_id: string; state: string }>;
      if (rows.length === 0) return { deleted: 0, discardedIds: [] };
      const ids = rows.map((row) => String(row.tx_id));
      const placeholders = ids.map((_, index) => p(index + 1)).join(', ');
      const deleted = await this.execute(
        `DELETE FROM ${this.table} WHERE ${quote('tx_id')} IN (${placeholders})`,
        ids,
        runner,
      );
      return { deleted, discardedIds: rows.filter((row) => row.state === 'discarded').map((row) => String(row.tx_id)) };
    });
  }

  async inTransaction<T>(work: (runner: QueryRunner) => Promise<T>): Promise<T> {
    const run = (): Promise<T> => this.dataSource.transaction(async (manager) => work(manager.queryRunner!));
    const lock = singleConnectionLockFor(this.dataSource);
    return lock ? lock.run(run) : run();
  }

  private async select(sql: string, params: unknown[], runner?: QueryRunner, raw = false): Promise<HalfMessageRow[]> {
    const records = await this.query(sql, params, runner, (result) => result.records ?? []);
    return raw ? (records as HalfMessageRow[]) : (records as Array<Record<string, unknown>>).map(fromRaw);
  }

  private execute(sql: string, params: unknown[], runner?: QueryRunner): Promise<number> {
    return this.query(sql, params, runner, (result) => result.affected ?? 0);
  }

  private async query<T>(
    sql: string,
    params: unknown[],
    given: QueryRunner | undefined,
    pick: (result: StructuredResult) => T,
  ): Promise<T> {
    if (given) return pick((await given.query(sql, params, true)) as StructuredResult);
    const run = async (): Promise<T> => {
      const runner = this.dataSource.createQueryRunner();
      try {
        return pick((await runner.query(sql, params, true)) as StructuredResult);
      } finally {
        await runner.release();
      }
    };
    const lock = singleConnectionLockFor(this.dataSource);
    return lock ? lock.run(run) : run();
  }
}
