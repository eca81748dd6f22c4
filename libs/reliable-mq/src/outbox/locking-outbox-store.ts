import type { DataSource, QueryRunner } from 'typeorm';
import type { OutboxMessage } from './outbox-message.entity';
import { outboxDialect, type OutboxDialect } from './outbox-dialect';
import { OperatorStatementsStore, OutboxOperatorStatements } from './outbox-operator-statements';
import { outboxRowFromRaw } from './outbox-row.codec';
import type { ClaimRequest, ClaimedRow, FailureMark, OutboxStore } from './outbox-store.interface';

interface StructuredResult {
  records?: unknown[];
  affected?: number;
}

/**
 * RELAXED_COMMIT: a lease, a released lease or a sent mark needs no wait for the disk of its own. If a crash of the
 * database takes the last of them away, the rows only become due again and are sent again, and the broker stores
 * each message id once; PostgreSQL stays consistent either way, and a later durable commit (any of the application's)
 * flushes them too. The relay so spares two flushes a round. Failure marks keep the normal commit: they carry the
 * attempt count and the backoff.
 */
const RELAXED_COMMIT_SETTING = 'SET LOCAL synchronous_commit = off';

/**
 * Keeps, in seq order, the rows whose previous unsent row of the same key (`prev_unsent`) is kept too, or that have
 * none: what is left holds, for each key, a consecutive run starting at its oldest unsent row.
 */
function keepWholeKeyRuns(records: ReadonlyArray<Record<string, unknown>>): OutboxMessage[] {
  const kept = new Set<number>();
  const rows: OutboxMessage[] = [];
  for (const record of records) {
    const previous = record.prev_unsent;
    if (previous !== null && previous !== undefined && !kept.has(Number(previous))) continue;
    const row = outboxRowFromRaw(record);
    kept.add(row.seq);
    rows.push(row);
  }
  return rows;
}

/**
 * The outbox on PostgreSQL and MySQL/MariaDB, where several relays (processes) share the table.
 *
 * Claiming is `SELECT … FOR UPDATE SKIP LOCKED` followed by an UPDATE of the lease, in one READ COMMITTED
 * transaction: relays skip each other's rows instead of queueing behind them, and READ COMMITTED keeps InnoDB from
 * taking gap locks that would stall the application's outbox inserts while a claim is running.
 *
 * The per-key check reads other rows without locking them. That is safe because a row only ever moves from unsent
 * to sent, and a row is kept only when its predecessor in the key is locked in the same batch: an older snapshot
 * can only show an earlier row as still unsent, which holds a later row back, never lets one through early.
 */
export class LockingOutboxStore extends OperatorStatementsStore implements OutboxStore {
  private readonly dialect: OutboxDialect;
  protected readonly operator: OutboxOperatorStatements;

  constructor(private readonly dataSource: DataSource) {
    super();
    this.dialect = outboxDialect(dataSource);
    if (this.dialect.name === 'sqlite')
      throw new Error('LockingOutboxStore is for PostgreSQL and MySQL; use SqliteOutboxStore.');
    this.operator = new OutboxOperatorStatements(this.dialect, async (sql, params) => {
      const result = await this.query(sql, params);
      return { rows: (result.records ?? []) as Array<Record<string, unknown>>, affected: result.affected ?? 0 };
    });
  }

  async claim(request: ClaimRequest): Promise<ClaimedRow[]> {
    const { table: t, param: p } = this.dialect;
    const postgres = this.dialect.name === 'postgres';
    // MariaDB has no `FOR UPDATE OF`; there the clause already applies to the outer table only.
    const lockClause = postgres ? 'FOR UPDATE OF o SKIP LOCKED' : 'FOR UPDATE SKIP LOCKED';
    // Candidates: due, unleased rows whose earlier unsent rows of the same key could all be claimed now. With SKIP
    // LOCKED that is not enough: another relay may be claiming an earlier row of the key at this very moment, and
    // this statement skips it. So each row also brings the seq of the unsent row just before it in its key
    // (`prev_unsent`), and only rows whose predecessor is in this very batch, locked by it, are kept.
    // The byte budget cuts the locked candidates after a prefix in seq order (an outer level, as locking and window
    // functions do not mix in one SELECT), so rows past it are not even sent to this process.
    const length = postgres ? 'octet_length' : 'LENGTH';
    const select = `SELECT w.* FROM (
       SELECT c.*, SUM(c.payload_bytes) OVER (ORDER BY c.seq ROWS UNBOUNDED PRECEDING) - c.payload_bytes AS bytes_before
       FROM (
         SELECT o.*, ${length}(o.payload) AS payload_bytes, (
           SELECT MAX(q.seq) FROM ${t} q WHERE q.msg_key = o.msg_key AND q.seq < o.seq AND q.status <> 'sent'
         ) AS prev_unsent
         FROM ${t} o
         WHERE o.status = 'pending' AND o.next_attempt_at <= ${p(1)} AND (o.lease_until IS NULL OR o.lease_until < ${p(2)})
           AND (o.msg_key IS NULL OR NOT EXISTS (
             SELECT 1 FROM ${t} p WHERE p.msg_key = o.msg_key AND p.seq < o.seq AND p.status <> 'sent'
               AND (p.status = 'dead' OR p.next_attempt_at > ${p(3)} OR p.lease_until >= ${p(4)})))
         ORDER BY o.seq LIMIT ${p(5)} ${lockClause}
       ) c
     ) w
     WHERE w.bytes_before < ${p(6)}
     ORDER BY w.seq`;
    const settings = postgres ? `SET LOCAL enable_sort = off; SET LOCAL jit = off; ${RELAXED_COMMIT_SETTING}` : '';
    return this.inTransaction(settings, async (runner) => {
      // Planner statistics usually say that pending rows are rare (the table is mostly sent rows), and they stay so
      // while an outage piles up a backlog. PostgreSQL then fetches every pending row and sorts them all for each
      // batch, so a drain slows down as the backlog grows (measured: 185 ms a round at 50,000 rows, against 0.5 ms).
      // Without a sort it must walk (status, seq) in order and stop after the batch, which is right for any backlog.
      // The byte budget's running sum does sort (at most `limit` rows); with sorts priced out of reach that plan looks
      // so costly that PostgreSQL would compile it to machine code on every claim (JIT), which takes longer than the
      // claim itself. A lease needs no flush of its own to disk, see RELAXED_COMMIT.
      const now = request.now;
      const result = (await runner.query(
        select,
        [now, now, now, now, request.limit, request.maxBytes],
        true,
      )) as StructuredResult;
      const rows = keepWholeKeyRuns((result.records ?? []) as Array<Record<string, unknown>>);
      if (rows.length === 0) return rows;
      await runner.query(
        `UPDATE ${t} SET lease_owner = ${p(1)}, lease_until = ${p(2)} WHERE ${this.seqIn(3)}`,
        [request.owner, request.leaseUntil, rows.map((row) => row.seq)],
        true,
      );
      for (const row of rows) {
        row.leaseOwner = request.owner;
        row.leaseUntil = request.leaseUntil;
      }
      return rows;
    });
  }

  markSent(owner: string, seqs: readonly number[], now: number): Promise<number> {
    const { table: t, param: p } = this.dialect;
    return this.execute(
      // "Not sent and not dead" is "pending" (the status CHECK allows nothing else), written so that no planner can
      // pick the status index over the primary key: with a large backlog that index finds every pending row.
      `UPDATE ${t} SET status = 'sent', sent_at = ${p(1)}, lease_until = NULL ${this.relaxedCommit()}
       WHERE ${this.seqIn(2)} AND lease_owner = ${p(3)} AND status <> 'sent' AND status <> 'dead'`,
      [now, [...seqs], owner],
    );
  }

  markFailed(mark: FailureMark): Promise<number> {
    const { table: t, param: p } = this.dialect;
    return this.execute(
      `UPDATE ${t}
       SET attempts = ${p(1)}, status = ${p(2)}, next_attempt_at = ${p(3)}, last_error = ${p(4)}, lease_owner = NULL, lease_until = NULL
       WHERE ${this.seqIn(5)} AND lease_owner = ${p(6)} AND status = 'pending' AND attempts = ${p(7)}`,
      [
        mark.previousAttempts + 1,
        mark.dead ? 'dead' : 'pending',
        mark.nextAttemptAt,
        mark.error,
        [...mark.seqs],
        mark.owner,
        mark.previousAttempts,
      ],
    );
  }

  release(owner: string, seqs: readonly number[]): Promise<number> {
    const { table: t, param: p } = this.dialect;
    return this.execute(
      `UPDATE ${t} SET lease_owner = NULL, lease_until = NULL ${this.relaxedCommit()}
       WHERE ${this.seqIn(1)} AND lease_owner = ${p(2)} AND status = 'pending'`,
      [[...seqs], owner],
    );
  }

  releaseLeases(owner: string): Promise<number> {
    const { table: t, param: p } = this.dialect;
    return this.execute(
      `UPDATE ${t} SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ${p(1)} AND status = 'pending'`,
      [owner],
    );
  }

  deleteSentBefore(cutoff: number, limit: number): Promise<number> {
    const { table: t, param: p } = this.dialect;
    if (this.dialect.name === 'mysql') {
      // MySQL refuses LIMIT inside an IN subquery, but DELETE takes LIMIT directly.
      return this.execute(`DELETE FROM ${t} WHERE status = 'sent' AND sent_at < ? LIMIT ?`, [cutoff, limit]);
    }
    return this.execute(
      `DELETE FROM ${t} WHERE seq IN (SELECT seq FROM ${t} WHERE status = 'sent' AND sent_at < ${p(1)} LIMIT ${p(2)})`,
      [cutoff, limit],
    );
  }

  async countPending(): Promise<number> {
    const result = await this.query(`SELECT COUNT(*) AS n FROM ${this.dialect.table} WHERE status = 'pending'`, []);
    return Number((result.records?.[0] as { n: number | string } | undefined)?.n ?? 0);
  }

  async oldestPendingCreatedAt(): Promise<number | null> {
    const result = await this.query(
      `SELECT created_at AS c FROM ${this.dialect.table} WHERE status = 'pending' ORDER BY seq LIMIT 1`,
      [],
    );
    const value = (result.records?.[0] as { c: number | string | null } | undefined)?.c;
    return value === undefined || value === null ? null : Number(value);
  }

  /**
   * On PostgreSQL, a FROM item that turns `synchronous_commit` off for the statement's own transaction (an autocommit
   * UPDATE is one), see RELAXED_COMMIT; nothing on MySQL, where the setting is the server's.
   */
  private relaxedCommit(): string {
    return this.dialect.name === 'postgres'
      ? `FROM (SELECT set_config('synchronous_commit', 'off', true)) AS relaxed`
      : '';
  }

  /** `seq` is in the array bound to parameter `index`: `= ANY($n)` on PostgreSQL, `IN (?)` (expanded by mysql2) on MySQL. */
  private seqIn(index: number): string {
    return this.dialect.name === 'postgres' ? `seq = ANY(${this.dialect.param(index)}::bigint[])` : 'seq IN (?)';
  }

  private async execute(sql: string, parameters: unknown[]): Promise<number> {
    return (await this.query(sql, parameters)).affected ?? 0;
  }

  private async query(sql: string, parameters: unknown[]): Promise<StructuredResult> {
    const runner = this.dataSource.createQueryRunner();
    try {
      return (await runner.query(sql, parameters, true)) as StructuredResult;
    } finally {
      await runner.release();
    }
  }

  /**
   * Runs `work` in a READ COMMITTED transaction. On PostgreSQL the transaction starts with its `settings` in one round
   * trip (TypeORM's startTransaction takes two, before any SET LOCAL): a claim is on the path of every message.
   */
  private async inTransaction<T>(settings: string, work: (runner: QueryRunner) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    const postgres = this.dialect.name === 'postgres';
    try {
      await runner.connect();
      try {
        if (postgres) await runner.query(`START TRANSACTION ISOLATION LEVEL READ COMMITTED; ${settings}`);
        else await runner.startTransaction('READ COMMITTED');
        const result = await work(runner);
        if (postgres) await runner.query('COMMIT');
        else await runner.commitTransaction();
        return result;
      } catch (error) {
        // Also after a failed start: a connection must not go back to the pool inside a transaction.
        await (postgres ? runner.query('ROLLBACK') : runner.rollbackTransaction()).catch(() => undefined);
        throw error;
      }
    } finally {
      await runner.release();
    }
  }
}
