import type { GroupMode, StartFrom } from '../engine.types';
import type { GroupContext } from './group-context';
import { QueueRuntime } from './queue-runtime';
import { defaultStartFrom } from './start-position';

/** Queue states by `topic\0queueId`. */
export type QueueStates = Map<string, QueueRuntime>;

/**
 * The delivery states of one consumer group's queues, and where each starts. A clustering group keeps one state per
 * queue (offset owner ''), a broadcasting member its own (offset owner: the member id), parked while the member is
 * away and resumed when the id comes back. A queue the group has never consumed starts where its subscription says,
 * and that start is stored at once; a known one starts at its stored offset, skipping what was acked above it before
 * the last clean close.
 */
export class GroupQueues {
  /** Clustering: the states shared by whichever member owns each queue. */
  readonly shared: QueueStates = new Map();
  private readonly startFrom = new Map<string, StartFrom>();
  private readonly loadedOffsets = new Map<string, Map<number, number>>();
  /** Broadcasting: queue states of members that left, by member id. */
  private readonly parked = new Map<string, QueueStates>();

  constructor(
    private readonly group: string,
    private readonly mode: GroupMode,
    /** The group's own topics (retry, moved backlog): a new queue of theirs starts at its earliest message. */
    private readonly ownTopics: readonly string[],
    private readonly ctx: GroupContext,
  ) {}

  /** The first subscription of a topic decides where the group starts on it. */
  noteStartFrom(topic: string, startFrom: StartFrom): void {
    if (!this.startFrom.has(topic)) this.startFrom.set(topic, startFrom);
  }

  /** The state of a queue in `states`, resumed from the parked ones or created (and its offset loaded) if needed. */
  obtain(topic: string, queueId: number, offsetOwner: string, states: QueueStates): QueueRuntime {
    const id = `${topic}\u0000${queueId}`;
    let queue = states.get(id);
    if (queue) return queue;
    queue = this.parked.get(offsetOwner)?.get(id);
    if (queue) {
      this.parked.get(offsetOwner)!.delete(id);
      states.set(id, queue);
      return queue;
    }
    const stored = this.storedOffsets(topic, offsetOwner);
    let committed = stored.get(queueId);
    let pin = false;
    if (committed === undefined) {
      pin = true;
      const head = this.ctx.queueHeads.peek(topic, queueId);
      const policy =
        this.ownTopics.includes(topic) || stored.size > 0
          ? 'earliest'
          : (this.startFrom.get(topic) ?? defaultStartFrom(this.mode));
      committed = policy === 'latest' ? head : (this.ctx.store.minOffset(topic, queueId) ?? head);
    }
    queue = new QueueRuntime(topic, queueId, offsetOwner, committed);
    states.set(id, queue);
    if (pin) {
      // Persist where a new group starts, so 'latest' does not drift past messages published before its first ack.
      queue.persisted = -1;
      this.ctx.markOffsetDirty(this.group, offsetOwner, topic, queueId, committed);
    } else {
      // Acked above a gap before the last clean close: done, not delivered again.
      for (const offset of this.ctx.store.loadAcked(this.group, offsetOwner, topic, queueId, committed)) {
        queue.markAcked(offset);
      }
      this.offsetMoved(queue);
    }
    return queue;
  }

  /** Hands a queue's committed offset to the offset journal when it moved since the last time. */
  offsetMoved(queue: QueueRuntime): void {
    if (queue.committed === queue.persisted) return;
    queue.persisted = queue.committed;
    this.ctx.markOffsetDirty(this.group, queue.offsetOwner, queue.topic, queue.queueId, queue.committed);
  }

  /** Keeps a leaving broadcasting member's states until its id comes back. */
  park(memberId: string, states: QueueStates): void {
    this.parked.set(memberId, states);
  }

  /** Every state held in memory: shared, of the members, and parked. */
  all(memberStates: Iterable<QueueStates>): QueueRuntime[] {
    const queues = [...this.shared.values()];
    for (const states of memberStates) queues.push(...states.values());
    for (const parked of this.parked.values()) queues.push(...parked.values());
    return queues;
  }

  private storedOffsets(topic: string, offsetOwner: string): Map<number, number> {
    const id = `${topic}\u0000${offsetOwner}`;
    let loaded = this.loadedOffsets.get(id);
    if (!loaded) {
      loaded = new Map(
        this.ctx.store.loadOffsets(this.group, offsetOwner, topic).map((row) => [row.queue_id, row.committed]),
      );
      this.loadedOffsets.set(id, loaded);
    }
    return loaded;
  }
}
