import type { Database, Statement } from 'better-sqlite3';
import type { TopicInfo } from '../engine.types';
import { InvalidArgumentError, UnknownTopicError } from '../errors';
import { MAX_QUEUES_PER_TOPIC } from '../engine-options';
import { validateName } from '../util/names';

/** Topics and their queue counts, cached in memory; writes are the caller's to place in a transaction. */
export class TopicRegistry {
  private readonly topics = new Map<string, TopicInfo>();
  private readonly insertStmt: Statement;
  private readonly resizeStmt: Statement;

  constructor(db: Database) {
    this.insertStmt = db.prepare('INSERT INTO topics (name, queue_count, created_at) VALUES (?, ?, ?)');
    this.resizeStmt = db.prepare('UPDATE topics SET queue_count = ? WHERE name = ?');
    const rows = db.prepare('SELECT name, queue_count, created_at FROM topics').all() as Array<{
      name: string;
      queue_count: number;
      created_at: number;
    }>;
    for (const row of rows) {
      this.topics.set(row.name, { name: row.name, queueCount: row.queue_count, createdAt: row.created_at });
    }
  }

  get(name: string): TopicInfo | undefined {
    return this.topics.get(name);
  }

  require(name: string): TopicInfo {
    const topic = this.topics.get(name);
    if (!topic) throw new UnknownTopicError(name);
    return topic;
  }

  list(): TopicInfo[] {
    return [...this.topics.values()];
  }

  queueCount(name: string): number {
    return this.topics.get(name)?.queueCount ?? 0;
  }

  static validateQueueCount(queueCount: unknown): number {
    if (
      typeof queueCount !== 'number' ||
      !Number.isInteger(queueCount) ||
      queueCount < 1 ||
      queueCount > MAX_QUEUES_PER_TOPIC
    ) {
      throw new InvalidArgumentError(
        `queueCount must be an integer from 1 to ${MAX_QUEUES_PER_TOPIC}; got ${JSON.stringify(queueCount)}.`,
      );
    }
    return queueCount;
  }

  /** Inserts the topic row; must run inside a transaction. Returns false when it already existed. */
  insert(name: string, queueCount: number, now: number): boolean {
    validateName('topic', name);
    if (this.topics.has(name)) return false;
    this.insertStmt.run(name, queueCount, now);
    this.topics.set(name, { name, queueCount, createdAt: now });
    return true;
  }

  resize(name: string, queueCount: number): void {
    this.resizeStmt.run(queueCount, name);
    this.topics.get(name)!.queueCount = queueCount;
  }
}
