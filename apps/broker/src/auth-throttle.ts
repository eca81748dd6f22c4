import { isIPv6 } from 'node:net';

/** Addresses remembered at most; beyond it the ones with nothing waiting are forgotten first. */
const MAX_TRACKED_ADDRESSES = 10_000;

interface Waiting {
  evaluate: () => boolean;
}

interface AddressState {
  /** Token checks this address may fail now; refills over time up to the burst. */
  allowance: number;
  updatedAt: number;
  queue: Waiting[];
  timer: NodeJS.Timeout | null;
}

/**
 * Rations the token checks of each address once it has failed some. An address may fail `burst` checks at once; after
 * that it gets one check every `refillMs`, and hellos that arrive meanwhile wait their turn unanswered. A correct token
 * costs nothing, so clients at other addresses are never slowed, and a guesser learns at most one answer per
 * `refillMs` however many sockets it opens.
 *
 * IPv6 addresses count per /64, the block one host usually holds.
 */
export class AuthThrottle {
  private readonly addresses = new Map<string, AddressState>();

  constructor(
    private readonly burst: number,
    private readonly refillMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Runs `evaluate` (which checks a token and says whether it failed) now, or once the address may fail another check.
   * Returns a function that withdraws it while it waits (its connection closed).
   */
  check(address: string, evaluate: () => boolean): () => void {
    const key = throttleKey(address);
    const state = this.addresses.get(key);
    if (state) this.refill(state);
    if (state && state.queue.length === 0 && !state.timer && state.allowance >= this.burst) {
      // Recovered in full: as if never seen.
      this.addresses.delete(key);
      if (evaluate()) this.charge(key);
      return () => undefined;
    }
    if (!state) {
      if (evaluate()) this.charge(key);
      return () => undefined;
    }
    if (state.queue.length === 0 && state.allowance >= 1) {
      if (evaluate()) this.charge(key);
      return () => undefined;
    }
    const waiting: Waiting = { evaluate };
    state.queue.push(waiting);
    this.schedule(key, state);
    return () => {
      const at = state.queue.indexOf(waiting);
      if (at >= 0) state.queue.splice(at, 1);
    };
  }

  /** Hellos waiting for their turn, for the health report and tests. */
  get waiting(): number {
    let count = 0;
    for (const state of this.addresses.values()) count += state.queue.length;
    return count;
  }

  close(): void {
    for (const state of this.addresses.values()) if (state.timer) clearTimeout(state.timer);
    this.addresses.clear();
  }

  private charge(key: string): void {
    let state = this.addresses.get(key);
    if (!state) {
      state = { allowance: this.burst, updatedAt: this.now(), queue: [], timer: null };
      this.remember(key, state);
    }
    this.refill(state);
    state.allowance -= 1;
  }

  private refill(state: AddressState): void {
    const at = this.now();
    state.allowance = Math.min(this.burst, state.allowance + (at - state.updatedAt) / this.refillMs);
    state.updatedAt = at;
  }

  private schedule(key: string, state: AddressState): void {
    if (state.timer) return;
    const wait = Math.max(0, Math.ceil((1 - state.allowance) * this.refillMs));
    state.timer = setTimeout(() => {
      state.timer = null;
      this.refill(state);
      while (state.queue.length > 0 && state.allowance >= 1) {
        const next = state.queue.shift()!;
        if (next.evaluate()) state.allowance -= 1;
      }
      if (state.queue.length > 0) this.schedule(key, state);
      else if (state.allowance >= this.burst) this.addresses.delete(key);
    }, wait);
    state.timer.unref();
  }

  private remember(key: string, state: AddressState): void {
    if (this.addresses.size >= MAX_TRACKED_ADDRESSES) {
      for (const [oldKey, old] of this.addresses) {
        if (this.addresses.size < MAX_TRACKED_ADDRESSES) break;
        this.refill(old);
        if (old.queue.length === 0 && !old.timer) this.addresses.delete(oldKey);
      }
    }
    this.addresses.set(key, state);
  }
}

/** The unit an address is throttled by: itself for IPv4, its /64 for IPv6 (IPv4-mapped ones count as IPv4). */
export function throttleKey(address: string): string {
  if (address.startsWith('::ffff:') && !isIPv6(address.slice(7))) return address.slice(7);
  if (!isIPv6(address)) return address;
  const [head = '', tail = ''] = address.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::')
    ? [...headGroups, ...Array<string>(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill('0'), ...tailGroups]
    : headGroups;
  return `${groups
    .slice(0, 4)
    .map((group) => group.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
