import type { ConsumerGroup } from '../consume/consumer-group';
import type { QueueRuntime } from '../consume/queue-runtime';
import type { MessageRow } from '../storage/message-row';
import type { MessageStore } from '../storage/message-store';

const CHUNK = 500;
const DRAIN_POLL_MS = 20;
const DRAIN_TIMEOUT_MS = 60_000;

export interface MoveBacklogInput {
  group: ConsumerGroup;
  fromTopic: string;
  toTopic: string;
  queueCount: number;
  /** Queue count of `toTopic`. */
  toQueueCount: number;
  store: MessageStore;
  submit: <T>(apply: () => T) => Promise<T>;
  writeCopy: (row: MessageRow) => void;
  /** Persists the group's committed offset on a `fromTopic` queue (inside the submitted transaction). */
  saveOffset: (queueId: number, committed: number) => void;
  /**
   * Records that the group consumes `toTopic` (inside the first chunk's transaction), so the moved backlog shows in
   * the group's statistics and can be reset before its consumers of `toTopic` start.
   */
  recordTarget: () => void;
  /** Told the running total after each committed chunk, for progress on long moves. */
  onProgress?: (moved: number) => void;
  /**
   * Expands `fromTopic` while the group is paused on it and holds nothing in flight; returns its new queue count.
   * Nothing published after the expansion reaches the group before the backlog from before it has moved.
   */
  expand?: () => number;
}

/** One source queue's unread rows, read ahead a chunk at a time. */
interface SourceCursor {
  queue: QueueRuntime;
  ahead: MessageRow[];
  next: number;
  exhausted: boolean;
}

/**
 * Pauses the group on `fromTopic`, waits for its in-flight messages, then copies the group's unconsumed messages of
 * every queue onto `toTopic` in the order they were stored (across queues, so a key whose messages sit on an old and
 * a new queue after an expansion keeps its order) and counts them as consumed on `fromTopic`, chunk by chunk; each
 * chunk's copies and its offsets commit together.
 */
export async function moveBacklog(input: MoveBacklogInput): Promise<{ moved: number }> {
  const { group, fromTopic } = input;
  const queues = Array.from({ length: input.queueCount }, (_, queueId) => group.sharedQueue(fromTopic, queueId));
  // Fix where the group starts on `toTopic` before any copy lands there, so it reads the copies
  // even when it later subscribes with startFrom 'latest'. The position commits with the first chunk.
  for (let queueId = 0; queueId < input.toQueueCount; queueId++) group.sharedQueue(input.toTopic, queueId);
  const pauses = [group.pauseQueues(fromTopic)];
  let moved = 0;
  try {
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    while (queues.some((queue) => queue.inflightCount() > 0)) {
      if (Date.now() > deadline)
        throw new Error(`Timed out waiting for in-flight messages of "${fromTopic}" to finish.`);
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
    if (input.expand) {
      const queueCount = input.expand();
      for (let queueId = queues.length; queueId < queueCount; queueId++) {
        queues.push(group.sharedQueue(fromTopic, queueId));
      }
      // The new queues wait too: what lands on them is newer than the backlog being moved.
      pauses.push(group.pauseQueues(fromTopic, queues.slice(input.queueCount)));
    }
    const cursors: SourceCursor[] = queues.map((queue) => {
      queue.buffer.length = 0;
      queue.redeliver.length = 0;
      return { queue, ahead: [], next: queue.committed, exhausted: false };
    });
    for (;;) {
      const chunk = takeChunk(cursors, input);
      if (chunk.length === 0) break;
      const rows = chunk.filter(({ cursor, row }) => !cursor.queue.isDone(row.queue_offset));
      const offsets = committedAfter(chunk);
      // The copies and the source offsets they consume commit in one transaction: a crash
      // in between can neither lose the backlog nor move it twice.
      const first = moved === 0 && rows.length > 0;
      await input.submit(() => {
        if (first) input.recordTarget();
        for (const { row } of rows) input.writeCopy(row);
        for (const [queue, committed] of offsets) input.saveOffset(queue.queueId, committed);
      });
      for (const { cursor, row } of chunk) group.ack(cursor.queue, row.queue_offset);
      group.backlogMoved();
      moved += rows.length;
      input.onProgress?.(moved);
    }
    for (const { queue, next } of cursors) queue.nextFetch = Math.max(queue.nextFetch, next, queue.committed);
  } finally {
    for (const pause of pauses) pause.resume();
  }
  return { moved };
}

/** Up to CHUNK rows over all source queues, lowest storage sequence first. */
function takeChunk(cursors: SourceCursor[], input: MoveBacklogInput): Array<{ cursor: SourceCursor; row: MessageRow }> {
  const chunk: Array<{ cursor: SourceCursor; row: MessageRow }> = [];
  while (chunk.length < CHUNK) {
    let lowest: SourceCursor | undefined;
    for (const cursor of cursors) {
      if (cursor.ahead.length === 0 && !cursor.exhausted) {
        cursor.ahead = input.store.readQueue(input.fromTopic, cursor.queue.queueId, cursor.next, CHUNK);
        if (cursor.ahead.length === 0) cursor.exhausted = true;
        else cursor.next = cursor.ahead[cursor.ahead.length - 1]!.queue_offset + 1;
      }
      const head = cursor.ahead[0];
      if (head !== undefined && (lowest === undefined || head.seq < lowest.ahead[0]!.seq)) lowest = cursor;
    }
    if (lowest === undefined) break;
    chunk.push({ cursor: lowest, row: lowest.ahead.shift()! });
  }
  return chunk;
}

/** Each source queue's committed offset once the chunk is consumed: past its rows and what was acked above them. */
function committedAfter(chunk: Array<{ cursor: SourceCursor; row: MessageRow }>): Map<QueueRuntime, number> {
  const taken = new Map<QueueRuntime, Set<number>>();
  for (const { cursor, row } of chunk) {
    let offsets = taken.get(cursor.queue);
    if (!offsets) taken.set(cursor.queue, (offsets = new Set()));
    offsets.add(row.queue_offset);
  }
  const committed = new Map<QueueRuntime, number>();
  for (const [queue, offsets] of taken) {
    let next = queue.committed;
    while (offsets.has(next) || queue.acked.has(next)) next++;
    committed.set(queue, next);
  }
  return committed;
}
