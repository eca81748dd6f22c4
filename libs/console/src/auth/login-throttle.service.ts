import { Inject, Injectable } from '@nestjs/common';
import { CONSOLE_OPTIONS } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';

/** Keys tracked at once; beyond this the least recently failed are forgotten, so a flood cannot exhaust memory. */
const MAX_KEYS = 10_000;

/**
 * Counts failed logins per client address and per username in a sliding window. Once either reaches the limit,
 * logins for it are refused (429) until the oldest failure leaves the window, even with the right password.
 */
@Injectable()
export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(@Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions) {}

  /** Milliseconds until a login may be tried again for any of `keys`; 0 when it may be tried now. */
  retryAfterMs(keys: readonly string[]): number {
    const now = this.options.now();
    let wait = 0;
    for (const key of keys) {
      const times = this.recent(key, now);
      if (times.length >= this.options.loginMaxFailures) {
        wait = Math.max(wait, times[0]! + this.options.loginWindowMs - now);
      }
    }
    return wait;
  }

  recordFailure(keys: readonly string[]): void {
    const now = this.options.now();
    for (const key of keys) {
      const times = this.recent(key, now);
      times.push(now);
      this.failures.delete(key);
      this.failures.set(key, times);
    }
    while (this.failures.size > MAX_KEYS) this.failures.delete(this.failures.keys().next().value!);
  }

  /** A successful login clears the username's count, not the address's. */
  recordSuccess(usernameKey: string): void {
    this.failures.delete(usernameKey);
  }

  private recent(key: string, now: number): number[] {
    const times = (this.failures.get(key) ?? []).filter((at) => at > now - this.options.loginWindowMs);
    if (times.length === 0) this.failures.delete(key);
    else this.failures.set(key, times);
    return times;
  }
}
