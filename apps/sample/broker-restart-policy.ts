/** How `npm start` restarts a broker process that died on its own, and when it stops trying. */
export interface BrokerRestartLimits {
  /** The wait before the first restart after a quiet spell; doubled for each further restart in the window. */
  firstDelayMs: number;
  /** The longest wait between restarts. */
  maxDelayMs: number;
  /** Restarts allowed within `windowMs`; one more exit in that window gives up. 0: never restart. */
  maxRestarts: number;
  windowMs: number;
}

export const DEFAULT_BROKER_RESTART_LIMITS: BrokerRestartLimits = {
  firstDelayMs: 500,
  maxDelayMs: 10_000,
  maxRestarts: 5,
  windowMs: 60_000,
};

export type BrokerRestartDecision =
  | { restart: true; delayMs: number; /** 1-based, over the whole run. */ count: number }
  | { restart: false; reason: string };

/** `0.5 s`, `10 s`, `1 min`: a wait or a window as the supervisor prints it. */
export function formatSeconds(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/** `1 restart`, `5 restarts`. */
export function restartsText(count: number): string {
  return `${count} restart${count === 1 ? '' : 's'}`;
}

/**
 * Counts the broker's unexpected exits: each gets a restart after a backoff that doubles while exits keep coming
 * within the window, until the window holds more exits than restarts allowed. Exits older than the window are
 * forgotten, so a broker that crashes once a day is restarted every time.
 */
export class BrokerRestartPolicy {
  private readonly restartTimes: number[] = [];
  private total = 0;

  constructor(readonly limits: BrokerRestartLimits = DEFAULT_BROKER_RESTART_LIMITS) {}

  /** Called when the broker exited on its own at `now`: restart it after `delayMs`, or give up and say why. */
  onExit(now: number): BrokerRestartDecision {
    const { firstDelayMs, maxDelayMs, maxRestarts, windowMs } = this.limits;
    while (this.restartTimes.length > 0 && now - this.restartTimes[0]! >= windowMs) this.restartTimes.shift();
    if (maxRestarts === 0) {
      return { restart: false, reason: 'broker restarts are turned off' };
    }
    if (this.restartTimes.length >= maxRestarts) {
      return {
        restart: false,
        reason:
          `it was restarted ${this.restartTimes.length === 1 ? 'once' : `${this.restartTimes.length} times`} within ` +
          `${formatSeconds(windowMs)} (the limit is ${restartsText(maxRestarts)} in ${formatSeconds(windowMs)})`,
      };
    }
    const delayMs = Math.min(maxDelayMs, firstDelayMs * 2 ** this.restartTimes.length);
    this.restartTimes.push(now);
    this.total += 1;
    return { restart: true, delayMs, count: this.total };
  }
}
