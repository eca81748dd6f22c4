/** Longest single timer wait; Node clamps larger values to 1 ms. */
import { detachedScope } from '../util/detached-scope';

const MAX_TIMER_MS = 2 ** 30;

/**
 * Moves delayed messages into their queues when due, driven by one timer set to the
 * earliest due time rather than a polling tick.
 */
export class DelayScheduler {
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Number.POSITIVE_INFINITY;
  private moving = false;
  private stopped = false;
  private readonly detached = detachedScope();

  constructor(
    private readonly nextDueAt: () => number | null,
    private readonly now: () => number,
    /** Moves due messages in one commit; returns how many were moved and whether more are due. */
    private readonly moveDue: () => Promise<{ moved: number; more: boolean }>,
    private readonly onError: (error: Error) => void,
  ) {}

  start(): void {
    this.arm(this.nextDueAt());
  }

  /** A message due at `deliverAt` was stored. */
  note(deliverAt: number): void {
    if (deliverAt < this.timerAt) this.arm(deliverAt);
  }

  /** Called by housekeeping; covers timers that fired before a (test) clock reached the due time. */
  fireIfDue(): void {
    if (this.timerAt <= this.now()) void this.fire();
  }

  private arm(at: number | null): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (at === null) {
      this.timerAt = Number.POSITIVE_INFINITY;
      return;
    }
    this.timerAt = at;
    const wait = Math.min(MAX_TIMER_MS, Math.max(0, at - this.now()));
    this.timer = setTimeout(() => this.detached(() => void this.fire()), wait);
    this.timer.unref();
  }

  private async fire(): Promise<void> {
    if (this.moving || this.stopped) return;
    this.moving = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Number.POSITIVE_INFINITY;
    try {
      for (;;) {
        const { more } = await this.moveDue();
        if (!more || this.stopped) break;
      }
    } catch (error) {
      this.onError(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.moving = false;
      if (!this.stopped) this.arm(this.nextDueAt());
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
