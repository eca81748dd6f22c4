/**
 * Next offset of every queue, kept in memory and written with each commit. Offsets
 * handed out inside a transaction are provisional until `commit()`; `rollback()`
 * gives them back so a failed batch leaves no gap.
 */
export class QueueOffsetTable {
  private readonly next = new Map<string, number>();
  private readonly provisional = new Map<string, number>();

  private static id(topic: string, queueId: number): string {
    return `${topic}\u0000${queueId}`;
  }

  load(topic: string, queueId: number, next: number): void {
    this.next.set(QueueOffsetTable.id(topic, queueId), next);
  }

  /** The offset the next stored message of this queue will get (committed state). */
  peek(topic: string, queueId: number): number {
    return this.next.get(QueueOffsetTable.id(topic, queueId)) ?? 0;
  }

  reserve(topic: string, queueId: number): number {
    const id = QueueOffsetTable.id(topic, queueId);
    const current = this.provisional.get(id) ?? this.next.get(id) ?? 0;
    this.provisional.set(id, current + 1);
    return current;
  }

  /** Queues whose next offset changed in the open transaction, for persisting. */
  pending(): Array<{ topic: string; queueId: number; next: number }> {
    return [...this.provisional].map(([id, next]) => {
      const cut = id.indexOf('\u0000');
      return { topic: id.slice(0, cut), queueId: Number(id.slice(cut + 1)), next };
    });
  }

  commit(): void {
    for (const [id, value] of this.provisional) this.next.set(id, value);
    this.provisional.clear();
  }

  rollback(): void {
    this.provisional.clear();
  }
}
