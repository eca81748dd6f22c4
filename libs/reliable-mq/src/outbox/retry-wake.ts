export interface RetryWakeInit {
  /** Drains the outbox (the relay's `wake`). */
  wake: () => void;
  /** True once the relay is stopping: no timer is set any more. */
  isStopping: () => boolean;
  clock: () => number;
}

/**
 * Wakes the relay when the earliest row it failed (or the broker's pause) is due again, so that a row backing off is
 * retried when its backoff ends rather than at the next sweep, and an outage costs one attempt per backoff step, not
 * a tight loop of failing sends.
 *
 * Due times are gathered while a round records its failures (`retryDueAt`) and turned into one timer when the round's
 * outcome asks for it (`arm`). Only one timer runs, for the earliest time asked; a later time never replaces it.
 */
export class RetryWake {
  /** Earliest next_attempt_at this relay gave a failed row in the current round. */
  private earliestRetryAt = Number.POSITIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;

  constructor(private readonly init: RetryWakeInit) {}

  /** Some rows may be tried again at `at` (epoch ms). */
  retryDueAt(at: number): void {
    this.earliestRetryAt = Math.min(this.earliestRetryAt, at);
  }

  /** Sets the timer for the earliest due time gathered since the last call, unless one runs for an earlier time. */
  arm(): void {
    const at = this.earliestRetryAt;
    this.earliestRetryAt = Number.POSITIVE_INFINITY;
    if (!Number.isFinite(at) || this.init.isStopping() || at >= this.timerAt) return;
    this.clear();
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Number.POSITIVE_INFINITY;
        this.init.wake();
      },
      Math.max(0, at - this.init.clock()),
    );
    // The sweep keeps the relay going; this timer alone must not keep a process alive.
    this.timer.unref();
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
  }
}
