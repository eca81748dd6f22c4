import type { Database } from 'better-sqlite3';
import type { ConsumerGroup } from '../consume/consumer-group';
import type { DeadLetterStore } from '../dlq/dead-letter-store';
import type { EngineStats, GroupTopicStats, TopicInfo, TopicStats } from '../engine.types';
import type { QueueOffsetTable } from '../publish/queue-offset-table';
import { backlogTopicOf, isSystemTopic, retryTopicOf } from '../util/names';

export interface StatsSources {
  db: Database;
  topics: TopicInfo[];
  heads: QueueOffsetTable;
  groups: ConsumerGroup[];
  deadLetters: DeadLetterStore;
  now: number;
  publishRate(topic: string): number;
  deliveryRate(group: string, topic: string): number;
}

/** Offsets per queue and, per group and topic, committed offsets, lag, in-flight, retry and DLQ counts, and rates. */
export function collectStats(sources: StatsSources): Omit<EngineStats, 'transactions' | 'commitLatency'> {
  const minStmt = sources.db.prepare('SELECT MIN(queue_offset) AS min FROM messages WHERE topic = ? AND queue_id = ?');
  const topics: TopicStats[] = sources.topics.map((topic) => ({
    topic: topic.name,
    publishRatePerSec: sources.publishRate(topic.name),
    queues: Array.from({ length: topic.queueCount }, (_, queueId) => {
      const next = sources.heads.peek(topic.name, queueId);
      const min = (minStmt.get(topic.name, queueId) as { min: number | null }).min;
      return { queueId, minOffset: min ?? next, maxOffset: next };
    }),
  }));
  const subscriptions = sources.db
    .prepare('SELECT group_name, topic FROM subscriptions ORDER BY group_name, topic')
    .all() as Array<{ group_name: string; topic: string }>;
  const offsetsStmt = sources.db.prepare(
    'SELECT queue_id, MIN(committed) AS committed FROM offsets WHERE group_name = ? AND topic = ? GROUP BY queue_id',
  );
  const retryScheduledStmt = sources.db.prepare(
    `SELECT COUNT(*) AS n FROM scheduled WHERE topic = ? AND json_extract(headers, '$."x-rmq-origin-topic"') = ?`,
  );
  const retryVisibleStmt = sources.db.prepare(
    `SELECT COUNT(*) AS n FROM messages WHERE topic = ? AND queue_id = ? AND queue_offset >= ?
       AND json_extract(headers, '$."x-rmq-origin-topic"') = ?`,
  );
  const movedPendingStmt = sources.db.prepare(
    `SELECT COUNT(*) AS n, MIN(born_at) AS oldest FROM messages WHERE topic = ? AND queue_id = ? AND queue_offset >= ?
       AND json_extract(headers, '$."x-rmq-origin-topic"') = ?`,
  );
  const firstUnconsumedStmt = sources.db.prepare(
    'SELECT stored_at FROM messages WHERE topic = ? AND queue_id = ? AND queue_offset >= ? ORDER BY queue_offset LIMIT 1',
  );
  const runtimes = new Map(sources.groups.map((group) => [group.name, group]));
  const groups: GroupTopicStats[] = [];
  for (const { group_name: group, topic } of subscriptions) {
    if (isSystemTopic(topic)) continue;
    const runtime = runtimes.get(group);
    const committedOffsets: Record<number, number> = {};
    for (const row of offsetsStmt.all(group, topic) as Array<{ queue_id: number; committed: number }>) {
      committedOffsets[row.queue_id] = row.committed;
    }
    let inFlight = 0;
    for (const queue of runtime?.allQueues() ?? []) {
      if (queue.topic === topic) {
        committedOffsets[queue.queueId] = Math.min(committedOffsets[queue.queueId] ?? queue.committed, queue.committed);
        if (queue.offsetOwner === '') committedOffsets[queue.queueId] = queue.committed;
      }
      inFlight += [...queue.inflight.values()].filter(
        (entry) => queue.topic === topic || retryOrigin(entry.row.headers) === topic,
      ).length;
    }
    const info = sources.topics.find((candidate) => candidate.name === topic);
    let lag = 0;
    let oldestUnconsumedAt: number | null = null;
    for (let queueId = 0; queueId < (info?.queueCount ?? 0); queueId++) {
      const queueLag = Math.max(0, sources.heads.peek(topic, queueId) - (committedOffsets[queueId] ?? 0));
      lag += queueLag;
      if (queueLag === 0) continue;
      // One indexed step per queue that lags: the message at the group's committed offset is its oldest unconsumed.
      const first = firstUnconsumedStmt.get(topic, queueId, committedOffsets[queueId] ?? 0) as
        { stored_at: number } | undefined;
      if (first && (oldestUnconsumedAt === null || first.stored_at < oldestUnconsumedAt)) {
        oldestUnconsumedAt = first.stored_at;
      }
    }
    // Where the group stands on each queue of one of its own topics: in memory while it runs, else as stored. Read
    // once per topic, not once per queue.
    const committedOn = (ownTopic: string): ((queueId: number) => number) => {
      const live = new Map<number, number>();
      for (const queue of runtime?.allQueues() ?? [])
        if (queue.topic === ownTopic) live.set(queue.queueId, queue.committed);
      const stored = new Map(
        (offsetsStmt.all(group, ownTopic) as Array<{ queue_id: number; committed: number }>).map((row) => [
          row.queue_id,
          row.committed,
        ]),
      );
      return (queueId) => live.get(queueId) ?? stored.get(queueId) ?? 0;
    };
    const retryTopic = retryTopicOf(group);
    let retryPending = (retryScheduledStmt.get(retryTopic, topic) as { n: number }).n;
    const retryInfo = sources.topics.find((candidate) => candidate.name === retryTopic);
    const retryCommitted = committedOn(retryTopic);
    for (let queueId = 0; queueId < (retryInfo?.queueCount ?? 0); queueId++) {
      retryPending += (retryVisibleStmt.get(retryTopic, queueId, retryCommitted(queueId), topic) as { n: number }).n;
    }
    // A redistributed backlog of this topic is still the group's lag on it, wherever it waits now.
    const backlogTopic = backlogTopicOf(group);
    const backlogInfo = sources.topics.find((candidate) => candidate.name === backlogTopic);
    const backlogCommitted = committedOn(backlogTopic);
    for (let queueId = 0; queueId < (backlogInfo?.queueCount ?? 0); queueId++) {
      const committed = backlogCommitted(queueId);
      if (sources.heads.peek(backlogTopic, queueId) <= committed) continue;
      const moved = movedPendingStmt.get(backlogTopic, queueId, committed, topic) as {
        n: number;
        oldest: number | null;
      };
      lag += moved.n;
      if (moved.oldest !== null && (oldestUnconsumedAt === null || moved.oldest < oldestUnconsumedAt)) {
        oldestUnconsumedAt = moved.oldest;
      }
    }
    groups.push({
      group,
      topic,
      committedOffsets,
      lag,
      inFlight,
      retryPending,
      dlqCount: sources.deadLetters.countDead(group, topic),
      deliveryRatePerSec: sources.deliveryRate(group, topic),
      oldestUnconsumedAt,
    });
  }
  const scheduledPending = (sources.db.prepare('SELECT COUNT(*) AS n FROM scheduled').get() as { n: number }).n;
  const pageCount = sources.db.pragma('page_count', { simple: true }) as number;
  const pageSize = sources.db.pragma('page_size', { simple: true }) as number;
  return { topics, groups, scheduledPending, databaseBytes: pageCount * pageSize };
}

function retryOrigin(headers: string | null): string | undefined {
  if (headers === null) return undefined;
  return (JSON.parse(headers) as Record<string, string>)['x-rmq-origin-topic'];
}
