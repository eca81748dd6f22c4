import type { Database, Statement } from 'better-sqlite3';
import type { DeadLetter, DeadLetterPage, DeadLetterQuery, DeadLetterStatus } from '../engine.types';
import { InvalidArgumentError } from '../errors';
import { decodeHeaders, decodeTags } from '../storage/message-row';
import { pageOf, selectPage, WhereBuilder } from '../storage/query-builder';

export interface NewDeadLetter {
  dlqTopic: string;
  group: string;
  topic: string;
  messageId: string;
  originalMessageId: string;
  key: string | null;
  tags: string | null;
  headers: string | null;
  body: Buffer;
  reason: string;
  reconsumeTimes: number;
  bornAt: number;
  deadAt: number;
}

interface DeadLetterRow {
  id: number;
  dlq_topic: string;
  group_name: string;
  topic: string;
  message_id: string;
  original_message_id: string;
  key: string | null;
  tags: string | null;
  headers: string | null;
  body: Buffer;
  reason: string;
  reconsume_times: number;
  born_at: number;
  dead_at: number;
  status: DeadLetterStatus;
  status_reason: string | null;
  status_at: number | null;
}

/** Storage of dead letters: one row per message a group gave up on, kept after resend or discard for audit. */
export class DeadLetterStore {
  private readonly insertStmt: Statement;
  private readonly getStmt: Statement;
  private readonly setStatusStmt: Statement;

  constructor(private readonly db: Database) {
    this.insertStmt = db.prepare(
      `INSERT INTO dead_letters (dlq_topic, group_name, topic, message_id, original_message_id, key, tags, headers, body,
         reason, reconsume_times, born_at, dead_at)
       VALUES (@dlqTopic, @group, @topic, @messageId, @originalMessageId, @key, @tags, @headers, @body,
         @reason, @reconsumeTimes, @bornAt, @deadAt)`,
    );
    this.getStmt = db.prepare('SELECT * FROM dead_letters WHERE id = ?');
    this.setStatusStmt = db.prepare(
      `UPDATE dead_letters SET status = ?, status_reason = ?, status_at = ? WHERE id = ? AND status = 'dead'`,
    );
  }

  insert(letter: NewDeadLetter): number {
    return Number(this.insertStmt.run(letter).lastInsertRowid);
  }

  get(id: number): DeadLetter | undefined {
    const row = this.getStmt.get(id) as DeadLetterRow | undefined;
    return row && toDeadLetter(row);
  }

  /** Moves a `dead` letter to a final state; false when it was not `dead`. */
  setStatus(id: number, status: Exclude<DeadLetterStatus, 'dead'>, reason: string | null, at: number): boolean {
    return this.setStatusStmt.run(status, reason, at, id).changes === 1;
  }

  query(query: DeadLetterQuery): DeadLetterPage {
    const where = new WhereBuilder();
    const status = query.status ?? 'dead';
    if (status !== 'any') {
      if (!['dead', 'resent', 'discarded'].includes(status)) {
        throw new InvalidArgumentError(`status must be dead, resent, discarded or any; got ${JSON.stringify(status)}.`);
      }
      where.add('status = ?', status);
    }
    where
      .whenDefined(query.group, 'group_name = ?')
      .whenDefined(query.topic, 'topic = ?')
      .whenDefined(query.key, 'key = ?')
      .whenDefined(query.messageId, '(message_id = ? OR original_message_id = ?)')
      .whenDefined(query.reasonContains, 'instr(reason, ?) > 0')
      .whenDefined(query.from, 'dead_at >= ?')
      .whenDefined(query.to, 'dead_at < ?');
    const page = pageOf(query);
    const { total, rows } = selectPage<DeadLetterRow>(this.db, 'dead_letters', where, 'dead_at DESC, id DESC', page);
    return { total, items: rows.map(toDeadLetter) };
  }

  countDead(group: string, topic: string): number {
    return (
      this.db
        .prepare(`SELECT COUNT(*) AS n FROM dead_letters WHERE group_name = ? AND topic = ? AND status = 'dead'`)
        .get(group, topic) as { n: number }
    ).n;
  }
}

function toDeadLetter(row: DeadLetterRow): DeadLetter {
  return {
    id: row.id,
    dlqTopic: row.dlq_topic,
    group: row.group_name,
    topic: row.topic,
    messageId: row.message_id,
    originalMessageId: row.original_message_id,
    key: row.key,
    tags: decodeTags(row.tags),
    headers: decodeHeaders(row.headers),
    body: row.body,
    reason: row.reason,
    reconsumeTimes: row.reconsume_times,
    bornAt: row.born_at,
    deadAt: row.dead_at,
    status: row.status,
    statusReason: row.status_reason,
    statusAt: row.status_at,
  };
}
