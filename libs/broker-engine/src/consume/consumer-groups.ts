import type { Database } from 'better-sqlite3';
import type { GroupMode, MessageHandler, Subscription } from '../engine.types';
import type { HandoutHandler } from './handout';
import { InvalidArgumentError } from '../errors';
import type { TopicAdmission } from '../topics/topic-admission';
import { retryTopicOf } from '../util/names';
import { ConsumerGroup } from './consumer-group';
import type { GroupContext } from './group-context';
import { PAUSE_HEARTBEAT, type HeartbeatPausable } from './heartbeat-pause';
import { MemberRuntime } from './member-runtime';
import type { ResolvedSubscription } from './subscription-options';

interface ConsumerGroupsDeps {
  db: Database;
  context: GroupContext;
  admission: TopicAdmission;
  submit: (apply: () => void) => Promise<void>;
  requestFlush: (delayMs: number) => void;
  /** Throws when the engine closed meanwhile; `operation` names what was refused. */
  ensureOpen: (operation: string) => void;
  now: () => number;
}

/**
 * The engine's consumer groups by name: members join them (one subscription at a time), a group keeps the mode it was
 * first recorded with, and a commit that made messages visible wakes the groups reading those topics.
 */
export class ConsumerGroups {
  private readonly groups = new Map<string, ConsumerGroup>();

  constructor(private readonly deps: ConsumerGroupsDeps) {}

  get(name: string): ConsumerGroup | undefined {
    return this.groups.get(name);
  }

  all(): IterableIterator<ConsumerGroup> {
    return this.groups.values();
  }

  /**
   * Joins a member to its group on the subscription's topic and starts pushing messages to `handler`. The
   * subscription is recorded durably first, so that the group's offsets and its mode outlive a restart.
   */
  async join(
    resolved: ResolvedSubscription,
    handler: MessageHandler | HandoutHandler,
    handouts = false,
  ): Promise<Subscription> {
    const { group: groupName, topic, groupMode } = resolved;
    this.deps.admission.admit(topic, 'subscribe');
    const storedMode = this.deps.db
      .prepare('SELECT group_mode FROM subscriptions WHERE group_name = ? LIMIT 1')
      .get(groupName) as { group_mode: GroupMode } | undefined;
    const knownMode = this.groups.get(groupName)?.mode ?? storedMode?.group_mode;
    if (knownMode !== undefined && knownMode !== groupMode) {
      throw new InvalidArgumentError(
        `Group "${groupName}" is a ${knownMode} group; it cannot also subscribe as ${groupMode}. Use another group name.`,
      );
    }
    const group = this.obtain(groupName, groupMode);
    for (const other of group.members.values()) {
      const sub = other.subscriptions.get(topic);
      if (sub && sub.mode !== resolved.mode) {
        throw new InvalidArgumentError(
          `Group "${groupName}" already consumes "${topic}" in ${sub.mode} mode; all members must use the same mode.`,
        );
      }
    }
    this.refuseSecondSubscription(group, resolved);
    const topicsToRecord = [topic];
    if (groupMode === 'clustering') {
      this.deps.admission.ensureSystem(retryTopicOf(groupName));
      topicsToRecord.push(retryTopicOf(groupName));
    }
    const now = this.deps.now();
    await this.deps.submit(() => {
      for (const name of topicsToRecord) this.record(groupName, name, groupMode, now);
    });
    this.deps.ensureOpen('subscribe');
    // Re-read after the await: a concurrent subscribe of the same member may have created it meanwhile.
    const current = this.refuseSecondSubscription(group, resolved);
    const member = current ?? new MemberRuntime(resolved.memberId, resolved.prefetch, resolved.autoHeartbeat, now);
    // One member serving several topics keeps the largest prefetch any of its subscriptions asked for.
    member.prefetch = Math.max(member.prefetch, resolved.prefetch);
    group.addSubscription(
      member,
      { topic, mode: resolved.mode, tagFilter: resolved.tagFilter, retry: resolved.retry, handler, handouts },
      resolved.startFrom,
    );
    const subscription: Subscription & HeartbeatPausable = {
      group: groupName,
      topic,
      memberId: member.id,
      assignedQueues: () => group.ownedBy(member).map((queue) => `${queue.topic}:${queue.queueId}`),
      close: async (timeoutMs = 30_000) => {
        member.subscriptions.delete(topic);
        if (member.subscriptions.size === 0) await group.removeMember(member, timeoutMs);
        else group.rebalance();
        this.deps.requestFlush(0);
      },
      [PAUSE_HEARTBEAT]: (paused: boolean) => {
        member.heartbeatPaused = paused;
      },
    };
    return subscription;
  }

  /** The member, when it exists and does not subscribe the topic yet. */
  private refuseSecondSubscription(group: ConsumerGroup, resolved: ResolvedSubscription): MemberRuntime | undefined {
    const member = group.members.get(resolved.memberId);
    if (member?.subscriptions.has(resolved.topic)) {
      throw new InvalidArgumentError(
        `Member "${resolved.memberId}" of group "${group.name}" already subscribes to "${resolved.topic}"; close that subscription first.`,
      );
    }
    return member;
  }

  /** A clustering group, for work on its offsets or backlog; refused for a broadcasting one, made when unknown. */
  clustering(name: string, what: string): ConsumerGroup {
    const group = this.groups.get(name);
    if (group?.mode === 'broadcasting') {
      throw new InvalidArgumentError(`Group "${name}" is broadcasting; ${what} for clustering groups only.`);
    }
    return group ?? this.obtain(name, 'clustering');
  }

  /** Records that a group reads a topic (kept across restarts; the group's mode is the one first recorded). */
  record(group: string, topic: string, mode: GroupMode, now: number): void {
    this.deps.db
      .prepare('INSERT OR IGNORE INTO subscriptions (group_name, topic, group_mode, created_at) VALUES (?, ?, ?, ?)')
      .run(group, topic, mode, now);
  }

  /** Schedules delivery in every group with a member reading one of the topics (or the group's retry topic). */
  wake(topics: Set<string>): void {
    for (const group of this.groups.values()) {
      for (const member of group.members.values()) {
        if (
          [...topics].some(
            (topic) => member.subscriptions.has(topic) || topic === group.retryTopic || topic === group.backlogTopic,
          )
        ) {
          group.schedulePump();
          break;
        }
      }
    }
  }

  /** Members connected to a group that read the topic. */
  activeMembers(group: string, topic: string): number {
    return [...(this.groups.get(group)?.members.values() ?? [])].filter(
      (member) => member.active && member.subscriptions.has(topic),
    ).length;
  }

  private obtain(name: string, mode: GroupMode): ConsumerGroup {
    let group = this.groups.get(name);
    if (!group) {
      group = new ConsumerGroup(name, mode, this.deps.context);
      this.groups.set(name, group);
    }
    return group;
  }
}
