import { Inject, Injectable, ServiceUnavailableException } from '@nestjs/common';
import { CONSOLE_OPTIONS } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';

/** The lane of a password check: `known` for an address the user has logged in from before, which goes first. */
export type CheckLane = 'known' | 'other';

interface Waiter {
  start(): void;
  timer: NodeJS.Timeout;
}

/** Thrown when the server has no room for another password check; answered 503 with `Retry-After`. */
export class PasswordChecksBusyException extends ServiceUnavailableException {
  readonly retryAfterSeconds = 1;

  constructor() {
    super('The console is checking too many logins at once; try again in a second.');
  }
}

/**
 * Caps the password hashes running at once. Each check is a memory-hard scrypt (32 MiB, tens of milliseconds of a
 * core), so unbounded parallel logins would queue every login behind a burst and could exhaust memory. At most
 * `concurrentChecks` run; up to `queuedChecks` per lane wait, each at most `maxWaitMs`; anything past that is
 * refused at once (503), which costs nothing.
 *
 * Two lanes, because a burst of guesses comes from addresses that never logged in: checks for an address the user
 * has logged in from before start ahead of the others, so a known user's login waits for the hashes already
 * running, not for the burst.
 */
@Injectable()
export class PasswordCheckGate {
  private running = 0;
  private readonly queues: Record<CheckLane, Waiter[]> = { known: [], other: [] };

  constructor(@Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions) {}

  /** Runs `check` when there is room; rejects with PasswordChecksBusyException when there is none. */
  async run<T>(lane: CheckLane, check: () => Promise<T>): Promise<T> {
    await this.enter(lane);
    try {
      return await check();
    } finally {
      this.leave();
    }
  }

  private enter(lane: CheckLane): Promise<void> {
    const limits = this.options.login;
    if (this.running < limits.concurrentChecks && this.queues.known.length + this.queues.other.length === 0) {
      this.running += 1;
      return Promise.resolve();
    }
    const queue = this.queues[lane];
    if (queue.length >= limits.queuedChecks) return Promise.reject(new PasswordChecksBusyException());
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        start: () => {
          clearTimeout(waiter.timer);
          this.running += 1;
          resolve();
        },
        timer: setTimeout(() => {
          const index = queue.indexOf(waiter);
          if (index >= 0) queue.splice(index, 1);
          reject(new PasswordChecksBusyException());
        }, limits.maxCheckWaitMs),
      };
      queue.push(waiter);
    });
  }

  private leave(): void {
    this.running -= 1;
    const next = this.queues.known.shift() ?? this.queues.other.shift();
    next?.start();
  }
}
