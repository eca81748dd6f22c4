import type { Database, Statement } from 'better-sqlite3';
import type { MessageRow, NewMessage, ScheduledRow } from './message-row';

export interface StoredPosition {
  topic: string;
  queue_id: number;
  queue_offset: number;
  deliver_at: number | null;
}

export interface OffsetRow {
  queue_id: number;
  committed: number;
}

/**
 * Every SQL statement the engine runs against messages, queues and offsets, prepared
 * once. Callers own transactions; nothing here opens one.
 */
export class MessageStore {
  private readonly insertMessageStmt: Statement;
  private readonly insertScheduledStmt: Statement;
  private readonly findMessageStmt: Statement;
  private readonly readQueueStmt: Statement;
  private readonly upsertQueueStmt: Statement;
  private readonly upsertOffsetStmt: Statement;
  private readonly loadOffsetsStmt: Statement;
  private readonly dueScheduledStmt: Statement;
  private readonly deleteScheduledStmt: Statement;
  private readonly nextDueStmt: Statement;
  private readonly minOffsetStmt: Statement;
  private readonly loadAckedStmt: Statement;
  private readonly pruneAckedStmt: Statement;
  private readonly insertAckedStmt: Statement;

  constructor(private readonly db: Database) {
    // Positional parameters: binding a spread object by name costs about three times the insert itself.
    this.insertMessageStmt = db.prepare(
      `INSERT INTO messages (topic, queue_id, queue_offset, message_id, key, tags, headers, body, born_at, stored_at, expire_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertScheduledStmt = db.prepare(
      `INSERT INTO scheduled (message_id, topic, queue_id, key, tags, headers, body, born_at, stored_at, expire_at, deliver_at)
       VALUES (@messageId, @topic, @queueId, @key, @tags, @headers, @body, @bornAt, @storedAt, @expireAt, @deliverAt)`,
    );
    // One statement for both tables: a second lookup per published message cost about 10% of a publish. An id is
    // never in both tables once a transaction ends (a delayed message moves from one to the other in one), so the
    // single row that can match is the answer.
    this.findMessageStmt = db.prepare(
      `SELECT topic, queue_id, queue_offset, NULL AS deliver_at FROM messages WHERE message_id = ?
       UNION ALL
       SELECT topic, queue_id, -1 AS queue_offset, deliver_at FROM scheduled WHERE message_id = ?
       LIMIT 1`,
    );
    this.readQueueStmt = db.prepare(
      `SELECT * FROM messages WHERE topic = ? AND queue_id = ? AND queue_offset >= ? ORDER BY queue_offset LIMIT ?`,
    );
    this.upsertQueueStmt = db.prepare(
      `INSERT INTO queues (topic, queue_id, next_offset) VALUES (?, ?, ?)
       ON CONFLICT (topic, queue_id) DO UPDATE SET next_offset = MAX(next_offset, excluded.next_offset)`,
    );
    // Offsets only move forward: a late, older commit can never rewind a queue.
    this.upsertOffsetStmt = db.prepare(
      `INSERT INTO offsets (group_name, member_id, topic, queue_id, committed, updated_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (group_name, member_id, topic, queue_id)
       DO UPDATE SET committed = MAX(committed, excluded.committed), updated_at = excluded.updated_at`,
    );
    this.loadOffsetsStmt = db.prepare(
      'SELECT queue_id, committed FROM offsets WHERE group_name = ? AND member_id = ? AND topic = ?',
    );
    this.dueScheduledStmt = db.prepare(
      'SELECT * FROM scheduled WHERE deliver_at <= ? ORDER BY deliver_at, seq LIMIT ?',
    );
    this.deleteScheduledStmt = db.prepare('DELETE FROM scheduled WHERE seq = ?');
    this.nextDueStmt = db.prepare('SELECT MIN(deliver_at) AS due FROM scheduled');
    this.minOffsetStmt = db.prepare('SELECT MIN(queue_offset) AS min FROM messages WHERE topic = ? AND queue_id = ?');
    this.loadAckedStmt = db.prepare(
      `SELECT queue_offset FROM acked_offsets
       WHERE group_name = ? AND member_id = ? AND topic = ? AND queue_id = ? AND queue_offset >= ? ORDER BY queue_offset`,
    );
    this.pruneAckedStmt = db.prepare(
      'DELETE FROM acked_offsets WHERE group_name = ? AND member_id = ? AND topic = ? AND queue_id = ? AND queue_offset < ?',
    );
    this.insertAckedStmt = db.prepare(
      'INSERT OR IGNORE INTO acked_offsets (group_name, member_id, topic, queue_id, queue_offset) VALUES (?, ?, ?, ?, ?)',
    );
  }

  insertMessage(message: NewMessage, queueId: number, queueOffset: number, storedAt: number): void {
    this.insertMessageStmt.run(
      message.topic,
      queueId,
      queueOffset,
      message.messageId,
      message.key,
      message.tags,
      message.headers,
      message.body,
      message.bornAt,
      storedAt,
      message.expireAt,
    );
  }

  insertScheduled(message: NewMessage, queueId: number, deliverAt: number, storedAt: number): void {
    this.insertScheduledStmt.run({ ...message, queueId, deliverAt, storedAt });
  }

  findById(messageId: string): StoredPosition | undefined {
    return this.findMessageStmt.get(messageId, messageId) as StoredPosition | undefined;
  }

  readQueue(topic: string, queueId: number, fromOffset: number, limit: number): MessageRow[] {
    return this.readQueueStmt.all(topic, queueId, fromOffset, limit) as MessageRow[];
  }

  minOffset(topic: string, queueId: number): number | null {
    return (this.minOffsetStmt.get(topic, queueId) as { min: number | null }).min;
  }

  /** The next offset of every queue, as the last commit stored it; read once when the engine opens. */
  queueHeads(): Array<{ topic: string; queue_id: number; next_offset: number }> {
    return this.db.prepare('SELECT topic, queue_id, next_offset FROM queues').all() as Array<{
      topic: string;
      queue_id: number;
      next_offset: number;
    }>;
  }

  saveQueueNext(topic: string, queueId: number, next: number): void {
    this.upsertQueueStmt.run(topic, queueId, next);
  }

  saveOffset(group: string, memberId: string, topic: string, queueId: number, committed: number, now: number): void {
    this.upsertOffsetStmt.run(group, memberId, topic, queueId, committed, now);
  }

  loadOffsets(group: string, memberId: string, topic: string): OffsetRow[] {
    return this.loadOffsetsStmt.all(group, memberId, topic) as OffsetRow[];
  }

  /** Offsets acked at or above `from` (the committed offset) that were saved at a clean close. */
  loadAcked(group: string, memberId: string, topic: string, queueId: number, from: number): number[] {
    return (this.loadAckedStmt.all(group, memberId, topic, queueId, from) as Array<{ queue_offset: number }>).map(
      (row) => row.queue_offset,
    );
  }

  /** Records offsets acked above `committed` and forgets those the committed offset has passed. */
  saveAcked(
    group: string,
    memberId: string,
    topic: string,
    queueId: number,
    committed: number,
    acked: Iterable<number>,
  ): void {
    this.pruneAckedStmt.run(group, memberId, topic, queueId, committed);
    for (const offset of acked) this.insertAckedStmt.run(group, memberId, topic, queueId, offset);
  }

  dueScheduled(now: number, limit: number): ScheduledRow[] {
    return this.dueScheduledStmt.all(now, limit) as ScheduledRow[];
  }

  deleteScheduled(seq: number): void {
    this.deleteScheduledStmt.run(seq);
  }

  nextDueAt(): number | null {
    return (this.nextDueStmt.get() as { due: number | null }).due;
  }

  get database(): Database {
    return this.db;
  }
}
