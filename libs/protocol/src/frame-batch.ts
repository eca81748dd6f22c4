/** Where a batch waits for its flush: the channel it writes on (see `FramedChannel.schedule`). */
export interface BatchScheduler {
  /** Flushes `batch` before the next frame this side writes, and at the latest at the end of the current tick. */
  schedule(batch: { flush(): void }): void;
}

export interface FrameBatchOptions<T> {
  /** Writes the items gathered, in the order they were added, as one frame (or as the peer understands them). */
  send(items: T[]): void;
  /** A batch holding this many items is sent at once. */
  maxItems: number;
  /** A batch is sent before an item would take it past this many bytes (as its adder counts them). */
  maxBytes: number;
}

/**
 * Items of one kind (deliveries, acks, publish calls) gathered within one tick of the event loop and written as one
 * frame. A batch never reorders output: the channel flushes it before any frame written after its first item, so the
 * peer reads the items where a frame of each would have been. It never waits past the tick either: what was added
 * leaves with the tick's other frames, in the same socket write.
 */
export class FrameBatch<T> {
  private items: T[] = [];
  private bytes = 0;
  private scheduled = false;

  constructor(
    private readonly scheduler: BatchScheduler,
    private readonly options: FrameBatchOptions<T>,
  ) {}

  /** Items waiting for the flush. */
  get size(): number {
    return this.items.length;
  }

  add(item: T, bytes = 0): void {
    if (this.items.length > 0 && this.bytes + bytes > this.options.maxBytes) this.flush();
    this.items.push(item);
    this.bytes += bytes;
    if (!this.scheduled) {
      this.scheduled = true;
      this.scheduler.schedule(this);
    }
    if (this.items.length >= this.options.maxItems || this.bytes >= this.options.maxBytes) this.flush();
  }

  /** Sends what is gathered now; nothing when empty. */
  flush(): void {
    this.scheduled = false;
    if (this.items.length === 0) return;
    const items = this.items;
    this.items = [];
    this.bytes = 0;
    this.options.send(items);
  }
}
