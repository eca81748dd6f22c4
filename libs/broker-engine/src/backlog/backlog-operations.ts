import type { Database } from 'better-sqlite3';
import type { ConsumerGroup } from '../consume/consumer-group';
import type { ConsumerGroups } from '../consume/consumer-groups';
import type { OffsetJournal } from '../consume/offset-journal';
import type { TopicInfo } from '../engine.types';
import { InvalidArgumentError } from '../errors';
import { HEADER_ORIGIN_TOPIC, HEADER_ORIGINAL_ID } from '../headers';
import type { QueueOffsetTable } from '../publish/queue-offset-table';
import type { QueueWriter } from '../publish/queue-writer';
import { decodeHeaders, encodeHeaders } from '../storage/message-row';
import type { MessageStore } from '../storage/message-store';
import { TopicRegistry } from '../topics/topic-registry';
import { isSystemTopic, validateName } from '../util/names';
import { uuidv7 } from '../util/uuid-v7';
import { moveBacklog } from './move-backlog';
import type { OffsetResetPlan } from './offset-reset-plan';
import { planOffsetReset, requireSubscription, resetOffsets } from './reset-offsets';

interface BacklogOperationsDeps {
  db: Database;
  store: MessageStore;
  topics: TopicRegistry;
  heads: QueueOffsetTable;
  writer: QueueWriter;
  offsets: OffsetJournal;
  groups: ConsumerGroups;
  submit: <T>(apply: () => T, options: { publish: boolean }) => Promise<T>;
  now: () => number;
}

/**
 * What an operator does when a clustering group falls behind: give a topic more queues, move the group's backlog onto
 * a topic with more queues, or move the group's offsets to a point in time. Each checks its arguments, then hands
 * the engine's parts to the mechanism in this folder that does the work.
 */
export class BacklogOperations {
  constructor(private readonly deps: BacklogOperationsDeps) {}

  expandQueues(topic: string, queueCount: number): TopicInfo {
    const { db, topics, groups } = this.deps;
    this.checkExpansion(topic, queueCount);
    db.transaction(() => topics.resize(topic, queueCount)).immediate();
    for (const group of groups.all()) group.rebalance();
    return topics.require(topic);
  }

  /**
   * Moves the group's backlog on `fromTopic` onto `toTopic`, or (without one) onto the group's own backlog topic with
   * `queueCount` queues (default: `fromTopic`'s), which its members read with their subscriptions of `fromTopic`.
   */
  redistribute(
    group: string,
    fromTopic: string,
    target: { toTopic?: string; queueCount?: number; expandTo?: number },
    onProgress: ((moved: number) => void) | undefined,
  ): Promise<{ moved: number; toTopic: string }> {
    const { store, topics, groups, writer, now } = this.deps;
    validateName('group', group);
    topics.require(fromTopic);
    const runtime = groups.clustering(group, 'backlogs are moved');
    const toTopic = target.toTopic ?? runtime.backlogTopic;
    if (target.expandTo !== undefined) this.checkExpansion(fromTopic, target.expandTo);
    if (target.toTopic !== undefined) {
      topics.require(toTopic);
      if (fromTopic === toTopic) throw new InvalidArgumentError('redistributeBacklog needs two different topics.');
      if (isSystemTopic(toTopic)) {
        throw new InvalidArgumentError(
          `Backlog cannot be moved onto the system topic "${toTopic}"; leave the target out to use the group's own.`,
        );
      }
    } else {
      this.ensureBacklogTopic(runtime, target.queueCount ?? target.expandTo ?? topics.queueCount(fromTopic));
    }
    return moveBacklog({
      group: runtime,
      onProgress,
      fromTopic,
      toTopic,
      queueCount: topics.queueCount(fromTopic),
      toQueueCount: topics.queueCount(toTopic),
      store,
      submit: (apply) => this.deps.submit(apply, { publish: true }),
      saveOffset: (queueId, committed) => store.saveOffset(group, '', fromTopic, queueId, committed, now()),
      recordTarget: () => groups.record(group, toTopic, 'clustering', now()),
      ...(target.expandTo !== undefined
        ? { expand: () => this.expandQueues(fromTopic, target.expandTo!).queueCount }
        : {}),
      writeCopy: (row) => {
        const at = now();
        const headers = decodeHeaders(row.headers);
        writer.write(
          {
            messageId: uuidv7(at),
            topic: toTopic,
            key: row.key,
            tags: row.tags,
            // The copy keeps the producer's id, so consumers and dedup see the message they knew, and the topic it
            // came from, so the group's own backlog topic hands it to the subscription of that topic.
            headers: encodeHeaders({
              ...headers,
              [HEADER_ORIGINAL_ID]: headers[HEADER_ORIGINAL_ID] ?? row.message_id,
              ...(target.toTopic === undefined ? { [HEADER_ORIGIN_TOPIC]: fromTopic } : {}),
            }),
            body: row.body,
            bornAt: row.born_at,
            expireAt: row.expire_at,
          },
          null,
          at,
        );
      },
    }).then(({ moved }) => ({ moved, toTopic }));
  }

  private checkExpansion(topic: string, queueCount: number): void {
    const info = this.deps.topics.require(topic);
    TopicRegistry.validateQueueCount(queueCount);
    if (queueCount <= info.queueCount) {
      throw new InvalidArgumentError(
        `Topic "${topic}" already has ${info.queueCount} queues; expandQueues needs a larger count, got ${queueCount}.`,
      );
    }
  }

  /** Creates the group's backlog topic with `queueCount` queues, or grows it to that many; members take them over. */
  private ensureBacklogTopic(group: ConsumerGroup, queueCount: number): void {
    const { db, topics } = this.deps;
    TopicRegistry.validateQueueCount(queueCount);
    const existing = topics.queueCount(group.backlogTopic);
    if (existing >= queueCount) return;
    db.transaction(() => {
      if (existing === 0) topics.insert(group.backlogTopic, queueCount, this.deps.now());
      else topics.resize(group.backlogTopic, queueCount);
    }).immediate();
    group.rebalance();
  }

  previewReset(group: string, topic: string, timestamp: number): OffsetResetPlan {
    return planOffsetReset(this.resetInput(group, topic, timestamp));
  }

  reset(group: string, topic: string, timestamp: number): Promise<OffsetResetPlan> {
    return resetOffsets({
      ...this.resetInput(group, topic, timestamp),
      now: this.deps.now,
      submit: (apply) => this.deps.submit(apply, { publish: false }),
    });
  }

  private resetInput(group: string, topic: string, timestamp: number) {
    const { db, topics, heads, offsets, groups } = this.deps;
    validateName('group', group);
    topics.require(topic);
    if (!Number.isFinite(timestamp) || timestamp < 0) {
      throw new InvalidArgumentError(`An offset reset needs a timestamp in epoch ms; got ${String(timestamp)}.`);
    }
    requireSubscription(db, group, topic);
    return {
      db,
      group: groups.clustering(group, 'offsets are reset'),
      topic,
      queueCount: topics.queueCount(topic),
      timestamp,
      headOf: (queueId: number) => heads.peek(topic, queueId),
      dropPendingOffsets: () => offsets.dropPending(group, topic),
    };
  }
}
