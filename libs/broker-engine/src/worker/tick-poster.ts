/** Where a tick's messages go: a worker, or the port back to the application's thread. */
interface PostTarget {
  postMessage(value: unknown): void;
}

/**
 * Posts what one side has to say in a tick as one array: a thread hop costs about as much as a small message, so
 * a tick's deliveries, settlements and calls travel together. Messages keep their order.
 */
export class TickPoster<T> {
  private queued: T[] = [];
  private scheduled = false;

  constructor(private readonly target: PostTarget) {}

  post(message: T): void {
    this.queued.push(message);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /** Posts what is queued now (also before the thread ends). */
  flush(): void {
    this.scheduled = false;
    if (this.queued.length === 0) return;
    const batch = this.queued;
    this.queued = [];
    this.target.postMessage(batch);
  }
}
