import type {
  HalfLedgerQuery,
  HalfMessage,
  HalfMessagePage,
  HalfMessageState,
  HalfResolvedBy,
} from '@reliable-mq/engine';
import type { DataSource, QueryRunner } from 'typeorm';
import { singleConnectionLockFor } from '../dedup/serial-lock';
import { outboxDialect, type OutboxDialect } from '../outbox/outbox-dialect';
import type { SerializedMessage } from '../producing/message-serializer';

export const HALF_MESSAGE_TABLE = 'rmq_half_message';

/** The columns a new half message is stored with: the payload is the message's JSON text, as in the outbox. */
export interface HalfMessageInsert extends Omit<HalfDelivery, 'id'> {
  txId: string;
  messageId: string;
  state: HalfMessageState;
  checkCount: number;
  nextCheckAt: number;
  sentAt: number;
}

/** What a commit hands to the outbox: the message as it was serialized, and the producer group that sent it. */
export interface HalfDelivery extends SerializedMessage {
  producerGroup: string;
}

/** A record deleted by retention, as read before the delete. */
export interface PrunedHalfRow {
  txId: string;
  producerGroup: string;
  state: Exclude<HalfMessageState, 'unresolved'>;
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

const text = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));

function fromRaw(raw: Record<string, unknown>): HalfMessage {
  return {
    txId: String(raw.tx_id),
    messageId: String(raw.message_id),
    producerGroup: String(raw.producer_group),
    topic: String(raw.topic),
    key: text(raw.msg_key),
    tags: raw.tags ? (JSON.parse(String(raw.tags)) as string[]) : [],
    headers: JSON.parse(String(raw.headers)) as Record<string, string>,
    body: Buffer.from(String(raw.payload), 'utf8'),
    sentAt: num(raw.sent_at),
    state: String(raw.state) as HalfMessageState,
    checkCount: num(raw.check_count),
    nextCheckAt: num(raw.next_check_at),
    reason: text(raw.reason),
    resolvedAt: nullableNum(raw.resolved_at),
    resolvedBy: (raw.resolved_by ?? null) as HalfResolvedBy | null,
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

  async insert(row: HalfMessageInsert): Promise<void> {
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

  async get(txId: string, runner?: QueryRunner): Promise<HalfMessage | undefined> {
    const rows = await this.select(
      `SELECT * FROM ${this.table} WHERE tx_id = ${this.dialect.param(1)}`,
      [txId],
      runner,
    );
    return rows[0] && fromRaw(rows[0]);
  }

  async getByMessageId(messageId: string): Promise<HalfMessage | undefined> {
    const rows = await this.select(`SELECT * FROM ${this.table} WHERE message_id = ${this.dialect.param(1)}`, [
      messageId,
    ]);
    return rows[0] && fromRaw(rows[0]);
  }

  /** The outbox message of a half message, read in `runner`'s transaction. */
  async deliveryOf(txId: string, runner: QueryRunner): Promise<HalfDelivery | undefined> {
    const [raw] = await this.select(
      `SELECT * FROM ${this.table} WHERE tx_id = ${this.dialect.param(1)}`,
      [txId],
      runner,
    );
    if (!raw) return undefined;
    const half = fromRaw(raw);
    return {
      id: half.messageId,
      producerGroup: half.producerGroup,
      topic: half.topic,
      key: half.key,
      tags: half.tags,
      headers: half.headers,
      payload: String(raw.payload),
      deliverAt: nullableNum(raw.deliver_at),
    };
  }

  /** Unresolved half messages whose check is due, earliest first. */
  async due(now: number, limit: number): Promise<HalfMessage[]> {
    const p = this.dialect.param;
    const rows = await this.select(
      `SELECT * FROM ${this.table} WHERE state = 'unresolved' AND next_check_at <= ${p(1)} ORDER BY next_check_at, tx_id LIMIT ${p(2)}`,
      [now, limit],
    );
    return rows.map(fromRaw);
  }

  /**
   * Moves the next check of a due row, counting one check when `count`: true for the one caller (of any process)
   * whose update saw the row as it was read.
   */
  async moveCheck(half: HalfMessage, nextCheckAt: number, count: boolean): Promise<boolean> {
    const p = this.dialect.param;
    const changed = await this.execute(
      `UPDATE ${this.table} SET check_count = check_count + ${count ? 1 : 0}, next_check_at = ${p(1)}
       WHERE tx_id = ${p(2)} AND state = 'unresolved' AND check_count = ${p(3)}`,
      [nextCheckAt, half.txId, half.checkCount],
    );
    return changed === 1;
  }

  async nextCheckAt(): Promise<number | null> {
    const [row] = await this.select(
      `SELECT MIN(next_check_at) AS due FROM ${this.table} WHERE state = 'unresolved'`,
      [],
    );
    return nullableNum(row?.due);
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
    const states = from.map((_, index) => p(index + 6)).join(', ');
    const changed = await this.execute(
      `UPDATE ${this.table} SET state = ${p(1)}, resolved_by = ${p(2)}, reason = ${p(3)}, resolved_at = ${p(4)}
       WHERE tx_id = ${p(5)} AND state IN (${states})`,
      [to, by, reason, now, txId, ...from],
      runner,
    );
    return changed === 1;
  }

  async list(query: HalfLedgerQuery): Promise<HalfMessagePage> {
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
    const [count] = await this.select(`SELECT COUNT(*) AS n FROM ${this.table} WHERE ${clause}`, params);
    params.push(query.limit, query.offset);
    const rows = await this.select(
      `SELECT * FROM ${this.table} WHERE ${clause} ORDER BY sent_at, tx_id LIMIT ${p(params.length - 1)} OFFSET ${p(params.length)}`,
      params,
    );
    return { total: Number(count?.n ?? 0), items: rows.map(fromRaw) };
  }

  /**
   * Deletes at most `limit` records resolved (committed, rolled back or discarded) before `cutoffMs`, in one
   * transaction, and answers them. Unresolved records are never touched.
   */
  async pruneResolved(cutoffMs: number, limit: number): Promise<PrunedHalfRow[]> {
    const { param: p, quote, name } = this.dialect;
    const resolved = `state IN ('committed', 'rolled_back', 'discarded') AND resolved_at < ${p(1)}`;
    // SQLite has no row locks; its writes are serialised by the DataSource's lock that inTransaction takes.
    const lock = name === 'sqlite' ? '' : ' FOR UPDATE';
    return this.inTransaction(async (runner) => {
      const rows = await this.select(
        `SELECT tx_id, producer_group, state FROM ${this.table} WHERE ${resolved} ORDER BY resolved_at LIMIT ${p(2)}${lock}`,
        [cutoffMs, limit],
        runner,
      );
      if (rows.length === 0) return [];
      const ids = rows.map((row) => String(row.tx_id));
      const placeholders = ids.map((_, index) => p(index + 1)).join(', ');
      await this.execute(`DELETE FROM ${this.table} WHERE ${quote('tx_id')} IN (${placeholders})`, ids, runner);
      return rows.map((row) => ({
        txId: String(row.tx_id),
        producerGroup: String(row.producer_group),
        state: String(row.state) as PrunedHalfRow['state'],
      }));
    });
  }

  /**
   * Runs `work` in one database transaction. On SQLite it takes the DataSource's single-connection lock, which
   * the outbox and the `db` dedup store share.
   */
  async inTransaction<T>(work: (runner: QueryRunner) => Promise<T>): Promise<T> {
    const run = (): Promise<T> => this.dataSource.transaction(async (manager) => work(manager.queryRunner!));
    const lock = singleConnectionLockFor(this.dataSource);
    return lock ? lock.run(run) : run();
  }

  private select(sql: string, params: unknown[], runner?: QueryRunner): Promise<Array<Record<string, unknown>>> {
    return this.query(sql, params, runner, (result) => (result.records ?? []) as Array<Record<string, unknown>>);
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
