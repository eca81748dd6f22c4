import type { ConsumerGroup } from '../consume/consumer-group';
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
}

/**
 * Pauses the group on `fromTopic`, waits for its in-flight messages, then copies each
 * queue's unacked messages in offset order onto `toTopic` and counts them as consumed
 * on `fromTopic`, chunk by chunk; each chunk's copies and its acks commit together.
 */
export async function moveBacklog(input: MoveBacklogInput): Promise<{ moved: number }> {
  const { group, fromTopic } = input;
  const queues = Array.from({ length: input.queueCount }, (_, queueId) => group.sharedQueue(fromTopic, queueId));
  // Fix where the group starts on `toTopic` before any copy lands there, so it reads the copies
  // even when it later subscribes with startFrom 'latest'. The position commits with the first chunk.
  for (let queueId = 0; queueId < input.toQueueCount; queueId++) group.sharedQueue(input.toTopic, queueId);
  const pause = group.pauseQueues(fromTopic);
  let moved = 0;
  try {
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    while (queues.some((queue) => queue.inflightCount() > 0)) {
      if (Date.now() > deadline)
        throw new Error(`Timed out waiting for in-flight messages of "${fromTopic}" to finish.`);
      await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
    }
    for (const queue of queues) {
      queue.buffer.length = 0;
      queue.redeliver.length = 0;
      let cursor = queue.committed;
      for (;;) {
        const scanned = input.store.readQueue(fromTopic, queue.queueId, cursor, CHUNK);
        if (scanned.length === 0) break;
        const rows = scanned.filter((row) => !queue.isDone(row.queue_offset));
        const scannedOffsets = new Set(scanned.map((row) => row.queue_offset));
        let committed = queue.committed;
        while (scannedOffsets.has(committed) || queue.acked.has(committed)) committed++;
        // The copies and the source offset they consume commit in one transaction: a crash
        // in between can neither lose the backlog nor move it twice.
        const first = moved === 0 && rows.length > 0;
        await input.submit(() => {
          if (first) input.recordTarget();
          for (const row of rows) input.writeCopy(row);
          input.saveOffset(queue.queueId, committed);
        });
        for (const row of scanned) group.ack(queue, row.queue_offset);
        moved += rows.length;
        input.onProgress?.(moved);
        cursor = scanned[scanned.length - 1]!.queue_offset + 1;
      }
      queue.nextFetch = Math.max(queue.nextFetch, cursor, queue.committed);
    }
  } finally {
    pause.resume();
  }
  return { moved };
}
