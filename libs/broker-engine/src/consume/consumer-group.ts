import type { GroupMode, MessageHandler, StartFrom } from '../engine.types';
import type { MessageRow } from '../storage/message-row';
import { decodeTags } from '../storage/message-row';
import { backlogTopicOf, retryTopicOf } from '../util/names';
import { allocateEvenly } from './allocate';
import { originTopicOf, toDelivery } from './delivery-mapper';
import { DeliveryPacer } from './delivery-pacer';
import { DeliveryReleasedError } from '../errors';
import type { GroupContext } from './group-context';
import { GroupQueues } from './group-queues';
import type { Handout } from './handout';
import type { MemberRuntime, TopicSubscription } from './member-runtime';
import type { InFlight, QueueRuntime } from './queue-runtime';

/**
 * How long a queue waits before it tries a message again when its outcome could not be written, or when the member
 * that owns the queue lacks the subscription the message needs.
 */
const SETTLE_FAILURE_PAUSE_MS = 1000;

/**
 * Runtime of one consumer group: its members, which member owns which queue, and what
 * each member is handed. Clustering groups keep one state per queue (`GroupQueues`),
 * shared by whichever member owns it, so a queue moving between members never hands
 * a message that is still in flight to a second member.
 */
export class ConsumerGroup {
  readonly members = new Map<string, MemberRuntime>();
  private readonly queues: GroupQueues;
  private readonly warnedMissingHandler = new Set<string>();
  readonly retryTopic: string;
  /** The group's own topic for a redistributed backlog; exists only once a backlog was moved onto it. */
  readonly backlogTopic: string;
  /** Whether the moved backlog still holds messages; 'unknown' until counted again (after a move or an ack on it). */
  private backlogState: 'unknown' | 'pending' | 'drained' = 'unknown';
  private readonly pacer = new DeliveryPacer(() => this.deliverAll());
  private tokens = 0;

  constructor(
    readonly name: string,
    readonly mode: GroupMode,
    private readonly ctx: GroupContext,
  ) {
    this.retryTopic = retryTopicOf(name);
    this.backlogTopic = backlogTopicOf(name);
    this.queues = new GroupQueues(name, mode, [this.retryTopic, this.backlogTopic], ctx);
  }

  /** Whether a member reads the retry topic: every clustering member (orderly ones get resent dead letters there). */
  private consumesRetry(member: MemberRuntime): boolean {
    return this.mode === 'clustering' && member.subscriptions.size > 0;
  }

  private topicsOf(member: MemberRuntime): string[] {
    const topics = [...member.subscriptions.keys()];
    if (this.consumesRetry(member)) topics.push(this.retryTopic, this.backlogTopic);
    return topics;
  }

  addSubscription(member: MemberRuntime, sub: TopicSubscription, startFrom: StartFrom): void {
    this.queues.noteStartFrom(sub.topic, startFrom);
    member.subscriptions.set(sub.topic, sub);
    this.members.set(member.id, member);
    this.rebalance();
  }

  /** Recomputes queue ownership from the live members; call on any membership or queue-count change. */
  rebalance(): void {
    const active = [...this.members.values()].filter((member) => member.active);
    if (this.mode === 'broadcasting') {
      for (const member of active) {
        for (const topic of this.topicsOf(member)) {
          for (let queueId = 0; queueId < this.ctx.queueCount(topic); queueId++) {
            const queue = this.queues.obtain(topic, queueId, member.id, member.ownQueues);
            queue.owner = member;
          }
        }
      }
      this.schedulePump();
      return;
    }
    const topics = new Set<string>();
    for (const member of active) for (const topic of this.topicsOf(member)) topics.add(topic);
    for (const queue of this.queues.shared.values()) if (!topics.has(queue.topic)) queue.owner = null;
    for (const topic of topics) {
      const candidates = active.filter((member) => this.topicsOf(member).includes(topic));
      const queueIds = Array.from({ length: this.ctx.queueCount(topic) }, (_, index) => index);
      const allocation = allocateEvenly(
        candidates.map((member) => member.id),
        queueIds,
      );
      for (const queueId of queueIds) {
        this.queues.obtain(topic, queueId, '', this.queues.shared).owner = null;
      }
      for (const [memberId, owned] of allocation) {
        const member = this.members.get(memberId)!;
        for (const queueId of owned) this.queues.obtain(topic, queueId, '', this.queues.shared).owner = member;
      }
    }
    this.schedulePump();
  }

  /** All queue states this group holds in memory. */
  allQueues(): QueueRuntime[] {
    return this.queues.all([...this.members.values()].map((member) => member.ownQueues));
  }

  /** Saves offsets acked above each queue's committed offset; call inside a transaction at close. */
  saveAcked(): void {
    for (const queue of this.allQueues()) {
      this.ctx.store.saveAcked(this.name, queue.offsetOwner, queue.topic, queue.queueId, queue.committed, queue.acked);
    }
  }

  ownedBy(member: MemberRuntime): QueueRuntime[] {
    const source = this.mode === 'broadcasting' ? member.ownQueues.values() : this.queues.shared.values();
    return [...source].filter((queue) => queue.owner === member);
  }

  schedulePump(): void {
    this.pacer.schedule();
  }

  /** Hands out what the members can take; returns the number of messages handed out or disposed of. */
  private deliverAll(): number {
    let handled = 0;
    for (const member of this.members.values()) {
      if (!member.active) continue;
      const queues = this.ownedBy(member);
      let progress = true;
      while (progress && member.inflight < member.prefetch) {
        progress = false;
        for (const queue of queues) {
          if (member.inflight >= member.prefetch) break;
          if (this.deliverOne(member, queue)) {
            progress = true;
            handled += 1;
          }
        }
      }
    }
    return handled;
  }

  private subscriptionFor(member: MemberRuntime, queue: QueueRuntime, row: MessageRow): TopicSubscription | undefined {
    const copies = queue.topic === this.retryTopic || queue.topic === this.backlogTopic;
    return member.subscriptions.get(copies ? originTopicOf(row) : queue.topic);
  }

  /** One message at a time: a queue of an orderly subscription, and the moved backlog of a member with one. */
  private isSerial(member: MemberRuntime, queue: QueueRuntime): boolean {
    if (queue.topic === this.backlogTopic) {
      for (const sub of member.subscriptions.values()) if (sub.mode === 'orderly') return true;
      return false;
    }
    return member.subscriptions.get(queue.topic)?.mode === 'orderly';
  }

  /** A backlog move started or ended: count the moved backlog again before the next orderly delivery. */
  backlogMoved(): void {
    this.backlogState = 'unknown';
    this.schedulePump();
  }

  /**
   * Whether the group's orderly queues wait for its moved backlog: a key's moved messages are older than anything
   * still on the topic's queues, so an orderly group handles them first.
   */
  private backlogHolds(): boolean {
    if (this.backlogState === 'unknown') {
      let pending = false;
      for (let queueId = 0; queueId < this.ctx.queueCount(this.backlogTopic) && !pending; queueId++) {
        pending =
          this.sharedQueue(this.backlogTopic, queueId).committed < this.ctx.queueHeads.peek(this.backlogTopic, queueId);
      }
      this.backlogState = pending ? 'pending' : 'drained';
    }
    return this.backlogState === 'pending';
  }

  /** Hands out or disposes of one message; false when this queue has nothing to do now. */
  private deliverOne(member: MemberRuntime, queue: QueueRuntime): boolean {
    if (queue.pausedBy > 0) return false;
    const now = this.ctx.clock.now();
    if (queue.heldUntil > now) return false;
    if (this.isSerial(member, queue)) {
      if (queue.inflightCount() > 0) return false;
      if (queue.topic !== this.backlogTopic && this.mode === 'clustering' && this.backlogHolds()) return false;
    }
    let row = queue.takeNext();
    if (!row) {
      if (!this.fill(queue)) return false;
      row = queue.takeNext();
      if (!row) return false;
    }
    const offset = row.queue_offset;
    if (queue.isDone(offset) || queue.inflight.has(offset) || queue.settling.has(offset)) return true;
    const sub = this.subscriptionFor(member, queue, row);
    if (!sub) {
      const topic = originTopicOf(row);
      if (!this.warnedMissingHandler.has(topic)) {
        this.warnedMissingHandler.add(topic);
        this.ctx.reportError(
          new Error(
            `Group "${this.name}" holds a retry of topic "${topic}" but member "${member.id}" has no subscription to it; every member of a group must subscribe the same topics.`,
          ),
        );
      }
      queue.putBack(row, true);
      queue.heldUntil = now + SETTLE_FAILURE_PAUSE_MS;
      this.pacer.scheduleAt(SETTLE_FAILURE_PAUSE_MS);
      return false;
    }
    if (!sub.tagFilter(decodeTags(row.tags))) {
      this.ack(queue, offset);
      return true;
    }
    if (row.expire_at !== null && row.expire_at <= now) {
      this.settle(queue, row, this.ctx.failures.expired(this.name, row));
      return true;
    }
    this.dispatch(member, queue, row, sub);
    return true;
  }

  private fill(queue: QueueRuntime): boolean {
    const head = this.ctx.queueHeads.peek(queue.topic, queue.queueId);
    if (queue.nextFetch >= head) return false;
    const rows = this.ctx.store.readQueue(queue.topic, queue.queueId, queue.nextFetch, this.ctx.fetchBatch);
    if (rows.length === 0) {
      queue.skipGap(head);
      this.queues.offsetMoved(queue);
      queue.nextFetch = head;
      return false;
    }
    if (rows[0]!.queue_offset > queue.nextFetch) {
      queue.skipGap(rows[0]!.queue_offset);
      this.queues.offsetMoved(queue);
    }
    queue.buffer.push(...rows);
    queue.nextFetch = rows[rows.length - 1]!.queue_offset + 1;
    return true;
  }

  private dispatch(member: MemberRuntime, queue: QueueRuntime, row: MessageRow, sub: TopicSubscription): void {
    const offset = row.queue_offset;
    const count = (queue.deliveryCounts.get(offset) ?? 0) + 1;
    queue.deliveryCounts.set(offset, count);
    const token = ++this.tokens;
    const serial = this.isSerial(member, queue);
    const deadline = this.ctx.clock.now() + this.ctx.consumeTimeoutMs;
    queue.inflight.set(offset, {
      token,
      member,
      deadline,
      row,
      serial,
      retry: sub.retry,
    });
    member.inflight++;
    const delivery = toDelivery(row, count);
    // Orderly retries happen in place, so the copy's header does not count them; the held failures do.
    if (serial) delivery.reconsumeTimes += queue.heldFailures;
    this.ctx.onDelivered(this.name, delivery.topic);
    const handout = sub.handouts ? this.handout(queue, offset, token, deadline) : undefined;
    Promise.resolve()
      .then(() => (handout ? sub.handler(delivery, handout) : (sub.handler as MessageHandler)(delivery)))
      .then(
        () => this.complete(member, queue, offset, token, null),
        (error: unknown) => this.complete(member, queue, offset, token, error ?? new Error('handler rejected')),
      );
  }

  private handout(queue: QueueRuntime, offset: number, token: number, deadline: number): Handout {
    return {
      deadline,
      started: () => {
        const entry = queue.inflight.get(offset);
        if (entry?.token !== token) return false;
        entry.deadline = this.ctx.clock.now() + this.ctx.consumeTimeoutMs;
        return true;
      },
    };
  }

  /** Puts a message back as if it had never been handed out: no failure and no delivery counted. */
  private release(member: MemberRuntime, queue: QueueRuntime, offset: number, entry: InFlight): void {
    queue.inflight.delete(offset);
    member.released();
    const count = queue.deliveryCounts.get(offset);
    if (count !== undefined && count > 1) queue.deliveryCounts.set(offset, count - 1);
    else queue.deliveryCounts.delete(offset);
    queue.putBack(entry.row);
    this.schedulePump();
  }

  private complete(member: MemberRuntime, queue: QueueRuntime, offset: number, token: number, error: unknown): void {
    const entry = queue.inflight.get(offset);
    const current = entry !== undefined && entry.token === token;
    if (error instanceof DeliveryReleasedError) {
      if (current) this.release(member, queue, offset, entry);
      return;
    }
    if (current) {
      queue.inflight.delete(offset);
      member.released();
    } else if (member.closed) {
      // Its in-flight messages were released to others when it left; its late outcome no longer counts.
      return;
    }
    if (error === null) {
      if (entry?.serial || this.isSerial(member, queue) || this.mode === 'broadcasting') queue.heldFailures = 0;
      this.ack(queue, offset);
    } else if (current) {
      this.fail(queue, entry, error);
    }
    this.pacer.continue();
  }

  /** What to do is the failure router's; holding the queue or settling the original is this group's. */
  private fail(queue: QueueRuntime, entry: InFlight, error: unknown): void {
    const { row } = entry;
    // Orderly and broadcasting consumption hold the queue and retry the same message in place: as the message was
    // handed out, even if its subscription has closed since (a close waits for the handlers in flight).
    const inPlace = entry.serial || this.mode === 'broadcasting';
    if (inPlace) queue.heldFailures++;
    const outcome = this.ctx.failures.route({
      group: this.name,
      row,
      error,
      retry: entry.retry,
      heldFailures: inPlace ? queue.heldFailures : null,
    });
    if (outcome.kind === 'hold') {
      queue.putBack(row, true);
      queue.heldUntil = this.ctx.clock.now() + outcome.pauseMs;
      this.pacer.scheduleAt(outcome.pauseMs);
      return;
    }
    if (inPlace) queue.heldFailures = 0;
    this.settle(queue, row, outcome.written);
  }

  /** Acks the original only once its retry copy or DLQ record is durable. */
  private settle(queue: QueueRuntime, row: MessageRow, written: Promise<void>): void {
    const offset = row.queue_offset;
    queue.settling.add(offset);
    written.then(
      () => {
        queue.settling.delete(offset);
        this.ack(queue, offset);
        this.schedulePump();
      },
      (error: unknown) => {
        queue.settling.delete(offset);
        this.ctx.reportError(error instanceof Error ? error : new Error(String(error)));
        queue.putBack(row, true);
        queue.heldUntil = this.ctx.clock.now() + SETTLE_FAILURE_PAUSE_MS;
        this.pacer.scheduleAt(SETTLE_FAILURE_PAUSE_MS);
      },
    );
  }

  ack(queue: QueueRuntime, offset: number): void {
    if (!queue.markAcked(offset)) return;
    this.queues.offsetMoved(queue);
    if (queue.topic === this.backlogTopic && this.backlogState === 'pending') {
      this.backlogState = 'unknown';
      this.schedulePump();
    }
  }

  /** Consume timeouts, heartbeats and held queues. */
  maintain(now: number): void {
    let membershipChanged = false;
    for (const member of this.members.values()) {
      if (member.closed || member.closing) continue;
      if (!member.heartbeatPaused && member.autoHeartbeat) member.lastHeartbeat = now;
      const expired = now - member.lastHeartbeat > this.ctx.sessionTimeoutMs;
      if (expired !== member.expired) {
        member.expired = expired;
        membershipChanged = true;
      }
    }
    if (membershipChanged) this.rebalance();
    let wake = false;
    for (const queue of this.allQueues()) {
      for (const [offset, entry] of queue.inflight) {
        if (entry.deadline > now) continue;
        queue.inflight.delete(offset);
        entry.member.released();
        queue.putBack(entry.row);
        wake = true;
      }
      if (queue.heldUntil !== 0 && queue.heldUntil <= now) {
        queue.heldUntil = 0;
        wake = true;
      }
    }
    if (wake) this.schedulePump();
  }

  heartbeat(memberId: string, now: number): boolean {
    const member = this.members.get(memberId);
    if (!member || member.closed) return false;
    member.lastHeartbeat = now;
    if (member.expired) {
      member.expired = false;
      this.rebalance();
    }
    return true;
  }

  /** Stops new deliveries to the member, waits for its in-flight handlers, then releases what is left. */
  async removeMember(member: MemberRuntime, timeoutMs: number): Promise<void> {
    if (member.closed) return;
    member.closing = true;
    this.rebalance();
    if (member.inflight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => member.drainWaiters.push(resolve)),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    member.closed = true;
    for (const queue of this.allQueues()) {
      for (const [offset, entry] of queue.inflight) {
        if (entry.member !== member) continue;
        queue.inflight.delete(offset);
        queue.putBack(entry.row);
      }
    }
    member.inflight = 0;
    this.members.delete(member.id);
    if (this.mode === 'broadcasting') this.queues.park(member.id, member.ownQueues);
    this.rebalance();
  }

  /** Blocks delivery from a queue state (backlog moves); returns the resume function. */
  pauseQueues(topic: string, only?: QueueRuntime[]): { queues: QueueRuntime[]; resume: () => void } {
    const queues = only ?? this.allQueues().filter((queue) => queue.topic === topic);
    for (const queue of queues) queue.pausedBy++;
    return {
      queues,
      resume: () => {
        for (const queue of queues) queue.pausedBy--;
        this.schedulePump();
      },
    };
  }

  /** Queue state for a topic, creating it (and loading its offset) if needed. Clustering groups only. */
  sharedQueue(topic: string, queueId: number): QueueRuntime {
    return this.queues.obtain(topic, queueId, '', this.queues.shared);
  }

  stop(): void {
    this.pacer.stop();
  }
}
