import type { Database, Statement } from 'better-sqlite3';
import type {
  HalfMessage,
  HalfMessagePage,
  HalfMessageQuery,
  HalfMessageState,
  HalfResolvedBy,
  TransactionStats,
} from '../engine.types';
import { InvalidArgumentError } from '../errors';
import { decodeHeaders, decodeTags, type StoredMessageColumns } from '../storage/message-row';
import { pageOf, selectPage, WhereBuilder } from '../storage/query-builder';

/** A half message row as stored. */
export interface HalfMessageRow extends StoredMessageColumns {
  tx_id: string;
  producer_group: string;
  sent_at: number;
  deliver_at: number | null;
  ttl_ms: number | null;
  state: HalfMessageState;
  check_count: number;
  next_check_at: number;
  warned: number;
  reason: string | null;
  resolved_at: number | null;
  resolved_by: HalfResolvedBy | null;
}

export interface NewHalfMessage {
  txId: string;
  messageId: string;
  producerGroup: string;
  topic: string;
  key: string | null;
  tags: string | null;
  headers: string | null;
  body: Buffer;
  sentAt: number;
  deliverAt: number | null;
  ttlMs: number | null;
  nextCheckAt: number;
}

const STATES: readonly HalfMessageState[] = ['unresolved', 'committed', 'rolled_back', 'discarded'];

/** The states whose records retention may delete: every state but `unresolved`. */
export type ResolvedHalfState = Exclude<HalfMessageState, 'unresolved'>;

/** What one pruning chunk deleted. */
export interface PrunedChunk {
  txIds: string[];
  /** `sent_at` of the last deleted record: the next chunk of the same group starts there. */
  lastSentAt: number | null;
}

/**
 * Every SQL statement on half messages, prepared once. Callers own transactions. State changes are single
 * conditional UPDATEs (`… WHERE state IN (…)`), so whichever of a producer's commit and a checkback answer is
 * applied first wins, and the other sees zero changed rows.
 */
export class HalfMessageStore {
  private readonly insertStmt: Statement;
  private readonly getStmt: Statement;
  private readonly getByMessageIdStmt: Statement;
  private readonly transitionStmt: Statement;
  private readonly dueStmt: Statement;
  private readonly claimStmt: Statement;
  private readonly postponeStmt: Statement;
  private readonly markWarnedStmt: Statement;
  private readonly nextCheckStmt: Statement;
  private readonly countsStmt: Statement;
  private readonly nextGroupStmt: Statement;
  private readonly prunableStmt: Statement;
  private readonly deleteStmt: Statement;

  constructor(private readonly db: Database) {
    this.insertStmt = db.prepare(
      `INSERT INTO half_messages (tx_id, message_id, producer_group, topic, key, tags, headers, body, sent_at, deliver_at,
         ttl_ms, next_check_at)
       VALUES (@txId, @messageId, @producerGroup, @topic, @key, @tags, @headers, @body, @sentAt, @deliverAt,
         @ttlMs, @nextCheckAt)`,
    );
    this.getStmt = db.prepare('SELECT * FROM half_messages WHERE tx_id = ?');
    this.getByMessageIdStmt = db.prepare('SELECT * FROM half_messages WHERE message_id = ?');
    this.transitionStmt = db.prepare(
      `UPDATE half_messages SET state = @to, reason = @reason, resolved_at = @at, resolved_by = @by
        WHERE tx_id = @txId AND state IN (@from1, @from2, @from3, @from4)`,
    );
    this.dueStmt = db.prepare(
      `SELECT * FROM half_messages WHERE state = 'unresolved' AND next_check_at <= ? ORDER BY next_check_at, tx_id LIMIT ?`,
    );
    this.claimStmt = db.prepare(
      `UPDATE half_messages SET check_count = check_count + 1, next_check_at = ? WHERE tx_id = ? AND state = 'unresolved'`,
    );
    this.postponeStmt = db.prepare(
      `UPDATE half_messages SET next_check_at = ? WHERE tx_id = ? AND state = 'unresolved'`,
    );
    this.markWarnedStmt = db.prepare('UPDATE half_messages SET warned = 1 WHERE tx_id = ?');
    this.nextCheckStmt = db.prepare(`SELECT MIN(next_check_at) AS due FROM half_messages WHERE state = 'unresolved'`);
    this.countsStmt = db.prepare(
      `SELECT state, COUNT(*) AS n FROM half_messages WHERE state IN ('unresolved', 'discarded') GROUP BY state`,
    );
    // Both walk the (state, producer_group, sent_at) index. A record is resolved after it was sent, so a record
    // resolved before the cutoff was also sent before it: the sent_at range bounds the scan to old records.
    this.nextGroupStmt = db.prepare(
      'SELECT producer_group FROM half_messages WHERE state = ? AND producer_group > ? ORDER BY producer_group LIMIT 1',
    );
    this.prunableStmt = db.prepare(
      `SELECT tx_id, sent_at FROM half_messages
        WHERE state = @state AND producer_group = @group AND sent_at >= @from AND sent_at < @cutoff
          AND resolved_at < @cutoff
        ORDER BY sent_at LIMIT @limit`,
    );
    this.deleteStmt = db.prepare('DELETE FROM half_messages WHERE tx_id = ?');
  }

  insert(half: NewHalfMessage): void {
    this.insertStmt.run(half);
  }

  get(txId: string): HalfMessageRow | undefined {
    return this.getStmt.get(txId) as HalfMessageRow | undefined;
  }

  getByMessageId(messageId: string): HalfMessageRow | undefined {
    return this.getByMessageIdStmt.get(messageId) as HalfMessageRow | undefined;
  }

  /**
   * Moves a half message from one of `from` to `to`, recording who (null for a move to the discarded list), why and
   * when; false when it was in none of them.
   */
  transition(
    txId: string,
    from: readonly HalfMessageState[],
    to: Exclude<HalfMessageState, 'unresolved'>,
    by: HalfResolvedBy | null,
    reason: string | null,
    at: number,
  ): boolean {
    if (from.length === 0 || from.length > 4) throw new InvalidArgumentError('A transition starts from 1 to 4 states.');
    const [from1, from2 = from1, from3 = from1, from4 = from1] = from;
    return this.transitionStmt.run({ txId, from1, from2, from3, from4, to, by, reason, at }).changes === 1;
  }

  due(now: number, limit: number): HalfMessageRow[] {
    return this.dueStmt.all(now, limit) as HalfMessageRow[];
  }

  /** Counts one check and sets the next; false when the message is no longer unresolved. */
  claim(txId: string, nextCheckAt: number): boolean {
    return this.claimStmt.run(nextCheckAt, txId).changes === 1;
  }

  /** Moves the next check without counting one. */
  postpone(txId: string, nextCheckAt: number): void {
    this.postponeStmt.run(nextCheckAt, txId);
  }

  markWarned(txId: string): void {
    this.markWarnedStmt.run(txId);
  }

  nextCheckAt(): number | null {
    return (this.nextCheckStmt.get() as { due: number | null }).due;
  }

  counts(): TransactionStats {
    const stats: TransactionStats = { unresolved: 0, discarded: 0 };
    for (const row of this.countsStmt.all() as Array<{ state: 'unresolved' | 'discarded'; n: number }>) {
      stats[row.state] = row.n;
    }
    return stats;
  }

  /** The first producer group after `after` (in byte order) holding a record in `state`; one index seek. */
  nextGroup(state: ResolvedHalfState, after: string): string | undefined {
    const row = this.nextGroupStmt.get(state, after) as { producer_group: string } | undefined;
    return row?.producer_group;
  }

  /**
   * Deletes up to `limit` records of `group` in `state` resolved before `cutoff`, oldest sent first, from `sent_at`
   * `from` on. Callers run it inside one commit, so the state read and the delete cannot be split by a transition.
   */
  pruneChunk(state: ResolvedHalfState, group: string, from: number, cutoff: number, limit: number): PrunedChunk {
    const rows = this.prunableStmt.all({ state, group, from, cutoff, limit }) as Array<{
      tx_id: string;
      sent_at: number;
    }>;
    for (const row of rows) this.deleteStmt.run(row.tx_id);
    return { txIds: rows.map((row) => row.tx_id), lastSentAt: rows.length > 0 ? rows[rows.length - 1]!.sent_at : null };
  }

  query(query: HalfMessageQuery): HalfMessagePage {
    if (typeof query !== 'object' || query === null)
      throw new InvalidArgumentError('Pass a query object, e.g. { state: "discarded" }.');
    const where = new WhereBuilder();
    const state = query.state ?? 'discarded';
    if (state !== 'any') {
      if (!STATES.includes(state)) {
        throw new InvalidArgumentError(`state must be ${STATES.join(', ')} or any; got ${JSON.stringify(state)}.`);
      }
      where.add('state = ?', state);
    }
    where
      .whenDefined(query.producerGroup, 'producer_group = ?')
      .whenDefined(query.topic, 'topic = ?')
      .whenDefined(query.id, '(tx_id = ? OR message_id = ?)');
    const page = pageOf(query);
    const { total, rows } = selectPage<HalfMessageRow>(this.db, 'half_messages', where, 'sent_at, tx_id', page);
    return { total, items: rows.map(toHalfMessage) };
  }
}

export function toHalfMessage(row: HalfMessageRow): HalfMessage {
  return {
    txId: row.tx_id,
    messageId: row.message_id,
    producerGroup: row.producer_group,
    topic: row.topic,
    key: row.key,
    tags: decodeTags(row.tags),
    headers: decodeHeaders(row.headers),
    body: row.body,
    sentAt: row.sent_at,
    state: row.state,
    checkCount: row.check_count,
    nextCheckAt: row.next_check_at,
    reason: row.reason,
    resolvedAt: row.resolved_at,
    resolvedBy: row.resolved_by,
  };
}
