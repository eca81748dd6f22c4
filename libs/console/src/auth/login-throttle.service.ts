import { Inject, Injectable } from '@nestjs/common';
import { CONSOLE_OPTIONS } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';

/** Keys tracked at once; beyond this the least recently failed are forgotten, so a flood cannot exhaust memory. */
const MAX_KEYS = 10_000;
const ADDRESS_FACTOR = 4;

/**
 * Counts failed logins per client address and per username in a sliding window. Once either reaches its limit,
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
      if (times.length >= this.limitOf(key)) {
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

  /**
   * The limit per username is `loginRateLimit.maxFailures`; an address gets four times as many, since several
   * people may share one (an office NAT) while a guesser trying many names from one address is still stopped.
   */
  limitOf(key: string): number {
    return key.startsWith('ip:') ? this.options.loginMaxFailures * ADDRESS_FACTOR : this.options.loginMaxFailures;
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
