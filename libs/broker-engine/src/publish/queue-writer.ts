import type { PublishResult } from '../engine.types';
import { newMessageOf, type NewMessage } from '../storage/message-row';
import type { MessageStore } from '../storage/message-store';
import type { TopicRegistry } from '../topics/topic-registry';
import { stableHash } from '../util/stable-hash';
import type { QueueOffsetTable } from './queue-offset-table';

/** What a commit made visible or scheduled, for the work that follows it. */
export interface CommittedWrites {
  /** Topics that got a visible message: the groups reading them have something to deliver. */
  touchedTopics: Set<string>;
  /** The earliest time a scheduled message waits for; infinity when none was scheduled. */
  earliestScheduled: number;
}

/**
 * Where a stored message goes: the queue it joins (one key, one queue; no key, round-robin), the offset it takes or
 * the time it waits for. Every write of a message into a queue (publish, a committed half message, a retry copy, a
 * resent dead letter, a moved backlog, a delayed message falling due) goes through here, inside a commit, so that
 * the commit can then wake the groups and the delay scheduler once.
 */
export class QueueWriter {
  private readonly roundRobin = new Map<string, number>();
  private touchedTopics = new Set<string>();
  private earliestScheduled = Number.POSITIVE_INFINITY;

  constructor(
    private readonly store: MessageStore,
    private readonly topics: TopicRegistry,
    private readonly heads: QueueOffsetTable,
  ) {}

  /**
   * Stores one message, visible now or scheduled for `deliverAt`. A message id already held returns its first result
   * with `duplicate: true`; `checkDuplicate: false` only for ids the engine just generated, which nothing can hold yet.
   */
  write(message: NewMessage, deliverAt: number | null, now: number, checkDuplicate = true): PublishResult {
    const existing = checkDuplicate ? this.store.findById(message.messageId) : undefined;
    if (existing) {
      return {
        messageId: message.messageId,
        topic: existing.topic,
        queueId: existing.queue_id,
        queueOffset: existing.queue_offset,
        ...(existing.deliver_at !== null ? { deliverAt: existing.deliver_at } : {}),
        duplicate: true,
      };
    }
    const queueId = this.selectQueue(message.topic, message.key);
    if (deliverAt !== null) {
      this.store.insertScheduled(message, queueId, deliverAt, now);
      this.earliestScheduled = Math.min(this.earliestScheduled, deliverAt);
      return {
        messageId: message.messageId,
        topic: message.topic,
        queueId,
        queueOffset: -1,
        deliverAt,
        duplicate: false,
      };
    }
    const queueOffset = this.heads.reserve(message.topic, queueId);
    this.store.insertMessage(message, queueId, queueOffset, now);
    this.touchedTopics.add(message.topic);
    return { messageId: message.messageId, topic: message.topic, queueId, queueOffset, duplicate: false };
  }

  /** Moves up to `limit` scheduled messages whose time has come into their queues; returns how many moved. */
  moveDue(now: number, limit: number): number {
    const rows = this.store.dueScheduled(now, limit);
    for (const row of rows) {
      // The queue chosen at publish, unless the topic has fewer queues now.
      const queueId = Math.min(row.queue_id, Math.max(0, this.topics.queueCount(row.topic) - 1));
      const offset = this.heads.reserve(row.topic, queueId);
      this.store.insertMessage(newMessageOf(row, row.born_at, row.expire_at), queueId, offset, now);
      this.store.deleteScheduled(row.seq);
      this.touchedTopics.add(row.topic);
    }
    return rows.length;
  }

  /** Same key, same queue (stable hash); no key, round-robin. */
  private selectQueue(topic: string, key: string | null): number {
    const count = this.topics.require(topic).queueCount;
    if (key !== null) return stableHash(key) % count;
    const next = (this.roundRobin.get(topic) ?? -1) + 1;
    this.roundRobin.set(topic, next % count);
    return next % count;
  }

  /** Inside the commit: persists the next offset of every queue written to. */
  writeHeads(): void {
    for (const { topic, queueId, next } of this.heads.pending()) this.store.saveQueueNext(topic, queueId, next);
  }

  /** After the commit: the reserved offsets hold, and what the commit wrote is handed over once. */
  committed(): CommittedWrites {
    this.heads.commit();
    const writes = { touchedTopics: this.touchedTopics, earliestScheduled: this.earliestScheduled };
    this.touchedTopics = new Set();
    this.earliestScheduled = Number.POSITIVE_INFINITY;
    return writes;
  }

  /** After a rollback: the reserved offsets are given back, so a failed batch leaves no gap. */
  rolledBack(): void {
    this.heads.rollback();
    this.touchedTopics = new Set();
    this.earliestScheduled = Number.POSITIVE_INFINITY;
  }
}
