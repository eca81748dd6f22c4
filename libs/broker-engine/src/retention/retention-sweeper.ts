import type { Database, Statement } from 'better-sqlite3';
import type { TopicInfo } from '../engine.types';

/**
 * Deletes messages that every subscribed group has consumed and that are older than
 * the retention period, in small chunks, each its own short commit, so publishing is
 * never held up by more than one chunk. The same pass then runs `pruneHalfMessages`
 * (records of resolved half messages), which chunks its own deletes the same way.
 */
export class RetentionSweeper {
  private readonly floorsStmt: Statement;
  private readonly deleteStmt: Statement;
  private running: Promise<number> | null = null;

  constructor(
    db: Database,
    private readonly topics: () => TopicInfo[],
    private readonly submit: <T>(apply: () => T) => Promise<T>,
    private readonly options: {
      retentionMs: number;
      chunkSize: number;
      now: () => number;
      pruneHalfMessages?: () => Promise<unknown>;
    },
  ) {
    this.floorsStmt = db.prepare(
      `SELECT s.group_name AS group_name,
              (SELECT MIN(o.committed) FROM offsets o
                WHERE o.group_name = s.group_name AND o.topic = s.topic AND o.queue_id = ?) AS floor
         FROM subscriptions s WHERE s.topic = ?`,
    );
    this.deleteStmt = db.prepare(
      `DELETE FROM messages WHERE seq IN (
         SELECT seq FROM messages
          WHERE topic = ? AND queue_id = ? AND queue_offset < ? AND stored_at < ?
          ORDER BY queue_offset LIMIT ?)`,
    );
  }

  /** Lowest offset some subscribed group still needs; every offset below it is consumed by all. */
  private floor(topic: string, queueId: number): number {
    const rows = this.floorsStmt.all(queueId, topic) as Array<{ floor: number | null }>;
    if (rows.length === 0) return Number.MAX_SAFE_INTEGER;
    let floor = Number.MAX_SAFE_INTEGER;
    for (const row of rows) floor = Math.min(floor, row.floor ?? 0);
    return floor;
  }

  /** One full pass; concurrent calls share it. Resolves with the number of deleted messages (half records aside). */
  sweep(): Promise<number> {
    this.running ??= this.pass().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async pass(): Promise<number> {
    let deleted = 0;
    const cutoff = this.options.now() - this.options.retentionMs;
    for (const topic of this.topics()) {
      for (let queueId = 0; queueId < topic.queueCount; queueId++) {
        const floor = this.floor(topic.name, queueId);
        if (floor <= 0) continue;
        for (;;) {
          const changes = await this.submit(
            () => this.deleteStmt.run(topic.name, queueId, floor, cutoff, this.options.chunkSize).changes,
          );
          deleted += changes;
          if (changes < this.options.chunkSize) break;
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }
    }
    await this.options.pruneHalfMessages?.();
    return deleted;
  }
}
