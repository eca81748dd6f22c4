import type { MessageStore } from '../storage/message-store';

/**
 * How long a moved consumer offset waits for its commit. Acks from many handler completions then share one commit
 * (one fsync in `sync` mode) instead of one each, and the wait is short enough to leave little to redeliver after a
 * crash.
 */
export const OFFSET_FLUSH_DELAY_MS = 5;

interface DirtyOffset {
  group: string;
  owner: string;
  topic: string;
  queueId: number;
  committed: number;
}

/**
 * Consumer offsets that moved in memory and are not stored yet. They are written inside the next commit, whatever
 * else it holds; a rollback puts them back unless a newer value came meanwhile. An offset only ever moves forward
 * here: of two values for one queue, the larger is kept.
 */
export class OffsetJournal {
  private dirty = new Map<string, DirtyOffset>();
  /** The offsets the running commit writes; back to `dirty` if it rolls back. */
  private flushing: Map<string, DirtyOffset> | null = null;

  constructor(
    private readonly store: MessageStore,
    /** Asks for a commit within the delay; the engine ignores it once closed. */
    private readonly requestFlush: (delayMs: number) => void,
  ) {}

  /** Offsets waiting for a commit. */
  get pending(): number {
    return this.dirty.size;
  }

  /** Records that a queue's committed offset (for a clustering group's owner '' or a broadcasting member) moved. */
  mark(group: string, owner: string, topic: string, queueId: number, committed: number): void {
    const id = `${group}\u0000${owner}\u0000${topic}\u0000${queueId}`;
    const current = this.dirty.get(id);
    if (!current || current.committed < committed) this.dirty.set(id, { group, owner, topic, queueId, committed });
    this.requestFlush(OFFSET_FLUSH_DELAY_MS);
  }

  /** Inside a commit: writes every offset waiting. */
  write(now: number): void {
    this.flushing = this.dirty;
    this.dirty = new Map();
    for (const offset of this.flushing.values()) {
      this.store.saveOffset(offset.group, offset.owner, offset.topic, offset.queueId, offset.committed, now);
    }
  }

  committed(): void {
    this.flushing = null;
  }

  rolledBack(): void {
    if (!this.flushing) return;
    for (const [id, offset] of this.flushing) {
      const newer = this.dirty.get(id);
      if (!newer || newer.committed < offset.committed) this.dirty.set(id, offset);
    }
    this.flushing = null;
  }

  /**
   * Drops a clustering group's waiting offsets on a topic, before its offsets are reset: stored as the larger value,
   * one flushed after the reset would undo a move back.
   */
  dropPending(group: string, topic: string): void {
    for (const [id, offset] of this.dirty) {
      if (offset.group === group && offset.owner === '' && offset.topic === topic) this.dirty.delete(id);
    }
  }
}
