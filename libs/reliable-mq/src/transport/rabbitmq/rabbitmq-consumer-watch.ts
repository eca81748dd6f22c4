/**
 * What this instance's consumer of one group queue knows, for the backlog: the deliveries it holds unacked, each with
 * the time it entered the queue (`queuedAtOf`), and whether RabbitMQ delivered anything to it. One per queue and per
 * channel a subscription consumes on: a lost channel's deliveries go back to the queue, and its watches are dropped
 * with it. The delivery path does one `Map` insert and one delete per message, nothing more.
 */
export class QueueWatch {
  /**
   * Deliveries held unacked (the handler runs, or the copy to a retry queue or the DLQ is being written), keyed by
   * the delivered message object. Typed as `object`, not amqplib's message, so that the transport's public typings do
   * not need amqplib's types in an application that does not use RabbitMQ.
   */
  readonly held = new Map<object, number>();
  /**
   * RabbitMQ delivered at least one message to this consumer. On a single-active-consumer queue that makes it the
   * active consumer, and it stays so until its channel closes.
   */
  delivered = false;

  constructor(readonly queue: string) {}

  /** The time the oldest held delivery entered the queue (epoch ms); null when none is held. */
  oldestHeld(): number | null {
    let oldest: number | null = null;
    for (const at of this.held.values()) if (oldest === null || at < oldest) oldest = at;
    return oldest;
  }
}

/** Length of the window the consume rate is averaged over, in seconds (as the engine's meters). */
const WINDOW_S = 10;

/**
 * Messages this instance settled (acked after its handler, or after their retry or DLQ copy was written) per second,
 * over the last 10 whole seconds: a count per second in a ring, so a settle costs a clock read and an increment.
 */
export class SettleMeter {
  private readonly seconds = new Array<number>(WINDOW_S + 1).fill(-1);
  private readonly counts = new Array<number>(WINDOW_S + 1).fill(0);

  record(now = Date.now()): void {
    const second = Math.floor(now / 1000);
    const slot = second % this.seconds.length;
    if (this.seconds[slot] !== second) {
      this.seconds[slot] = second;
      this.counts[slot] = 0;
    }
    this.counts[slot]! += 1;
  }

  /** Settles per second over the 10 whole seconds before the current one. */
  ratePerSec(now = Date.now()): number {
    const current = Math.floor(now / 1000);
    let total = 0;
    for (let slot = 0; slot < this.seconds.length; slot++) {
      const second = this.seconds[slot]!;
      if (second < current && second >= current - WINDOW_S) total += this.counts[slot]!;
    }
    return total / WINDOW_S;
  }
}
