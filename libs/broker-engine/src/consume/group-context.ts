import type { Clock } from '../engine.types';
import type { QueueOffsetTable } from '../publish/queue-offset-table';
import type { MessageRow } from '../storage/message-row';
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
  /** Durably writes a delayed copy to the group's retry topic. */
  sendToRetry(group: string, row: MessageRow, reconsumeTimes: number, error: string, delayMs: number): Promise<void>;
  /** Durably records the message in the group's DLQ. */
  sendToDlq(group: string, row: MessageRow, reason: string, reconsumeTimes: number): Promise<void>;
  reportError(error: Error): void;
  onDelivered(group: string, topic: string): void;
}
