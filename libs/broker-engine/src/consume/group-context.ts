import type { Clock } from '../engine.types';
import type { FailureRouter } from './failure-router';
import type { QueueOffsetTable } from '../publish/queue-offset-table';
import type { MessageStore } from '../storage/message-store';

/** What a consumer group needs from the engine around it. */
export interface GroupContext {
  readonly store: MessageStore;
  readonly clock: Clock;
  readonly queueHeads: QueueOffsetTable;
  readonly consumeTimeoutMs: number;
  readonly sessionTimeoutMs: number;
  readonly fetchBatch: number;
  queueCount(topic: string): number;
  markOffsetDirty(group: string, offsetOwner: string, topic: string, queueId: number, committed: number): void;
  /** Decides and writes what becomes of a failed or expired message (retry copy, DLQ record, or a hold). */
  readonly failures: FailureRouter;
  reportError(error: Error): void;
  onDelivered(group: string, topic: string): void;
}
