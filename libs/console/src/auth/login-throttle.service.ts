import { Inject, Injectable } from '@nestjs/common';
import { CONSOLE_OPTIONS, CONSOLE_STORE } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import type { ConsoleStore } from '../store/console-store';

/** Keys tracked at once; beyond this the least recently used are forgotten, so a flood cannot exhaust memory. */
const MAX_KEYS = 20_000;
/** Answered when a limit is full of attempts still being checked: they settle within a hash or two. */
const PENDING_RETRY_MS = 1_000;

/** Why a login attempt was not let through to the password check. */
export type ThrottleRefusal =
  | { kind: 'user-and-address' | 'address' | 'user'; retryAfterMs: number }
  | { kind: 'address-busy'; retryAfterMs: number };

/** An attempt let through: it counts against every limit until it is settled. */
export interface LoginTicket {
  readonly username: string;
  readonly address: string;
  /** The address has logged in as this user before: the softer per-user limit does not apply to it. */
  readonly knownAddress: boolean;
}

interface Counter {
  /** Times of failed attempts inside the window, oldest first. */
  failures: number[];
  /** Attempts let through whose password check has not finished. */
  pending: number;
}

interface TicketState extends LoginTicket {
  keys: string[];
  settled: boolean;
}

/**
 * Login throttling that holds under concurrency. An attempt is reserved (counted) before its password is hashed,
 * synchronously, so a burst of parallel guesses finds the limit full after the allowed number and is refused
 * without hashing; a failed check turns the reservation into a failure, a successful one releases it.
 *
 * Three limits in a sliding window (`loginRateLimit.window`):
 * - per username and address: `maxFailures` (5). The one that stops a guesser;
 * - per address, across usernames: 4 × `maxFailures`, against one address trying many names;
 * - per username, across addresses: `userMaxFailures` (10 × `maxFailures`), softer, against guessing from many
 *   addresses.
 * The last two do not hold an address the user has logged in from before (kept `knownAddressTtl`): a stranger,
 * from one address or many, cannot lock a user out of the addresses they use.
 *
 * An address may have at most `maxChecksPerAddress` attempts being checked at once; more are refused at once.
 */
@Injectable()
export class LoginThrottle {
  private readonly counters = new Map<string, Counter>();
  private readonly inFlight = new Map<string, number>();
  private readonly tickets = new WeakMap<LoginTicket, TicketState>();

  constructor(
    @Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions,
    @Inject(CONSOLE_STORE) private readonly store: ConsoleStore,
  ) {}

  /** Reserves an attempt for `username` from `address` (an address bucket), or says why and for how long not. */
  reserve(username: string, address: string): LoginTicket | ThrottleRefusal {
    const now = this.options.now();
    const limits = this.options.login;
    if ((this.inFlight.get(address) ?? 0) >= limits.maxChecksPerAddress) {
      return { kind: 'address-busy', retryAfterMs: PENDING_RETRY_MS };
    }
    const knownAddress = this.isKnownAddress(username, address, now);
    // Every attempt counts in all three; an address the user has logged in from is held only by the first, so that
    // neither strangers guessing that user from elsewhere nor someone guessing other names from the same address
    // (an office behind one NAT) can lock the user out of it.
    const keys: Array<[key: string, limit: number, kind: 'user-and-address' | 'address' | 'user', checked: boolean]> = [
      [`p:${address}\n${username}`, limits.maxFailures, 'user-and-address', true],
      [`a:${address}`, limits.addressMaxFailures, 'address', !knownAddress],
      [`u:${username}`, limits.userMaxFailures, 'user', !knownAddress],
    ];
    let refusal: ThrottleRefusal | null = null;
    for (const [key, limit, kind, checked] of keys) {
      if (!checked) continue;
      const wait = this.waitFor(key, limit, now);
      if (wait > 0 && (refusal === null || wait > refusal.retryAfterMs)) refusal = { kind, retryAfterMs: wait };
    }
    if (refusal) return refusal;
    for (const [key] of keys) this.counter(key).pending += 1;
    this.inFlight.set(address, (this.inFlight.get(address) ?? 0) + 1);
    const ticket: LoginTicket = { username, address, knownAddress };
    this.tickets.set(ticket, { ...ticket, keys: keys.map(([key]) => key), settled: false });
    this.trim();
    return ticket;
  }

  /**
   * Ends an attempt: `failed` keeps it as a failure in every limit; `succeeded` releases it, clears the failures of
   * this username at this address and remembers the address for the user; `unchecked` (the password was never
   * checked, e.g. the server was too busy) releases it without counting.
   */
  settle(ticket: LoginTicket, outcome: 'failed' | 'succeeded' | 'unchecked'): void {
    const state = this.tickets.get(ticket);
    if (!state || state.settled) return;
    state.settled = true;
    const now = this.options.now();
    const left = (this.inFlight.get(state.address) ?? 1) - 1;
    if (left > 0) this.inFlight.set(state.address, left);
    else this.inFlight.delete(state.address);
    for (const key of state.keys) {
      const counter = this.counters.get(key);
      if (!counter) continue;
      counter.pending = Math.max(0, counter.pending - 1);
      if (outcome === 'failed') counter.failures.push(now);
    }
    if (outcome === 'succeeded') {
      const pair = this.counters.get(state.keys[0]!);
      if (pair) pair.failures = [];
      this.store.db
        .prepare(
          `INSERT INTO login_addresses (username, address, last_ok_at) VALUES (?, ?, ?)
           ON CONFLICT (username, address) DO UPDATE SET last_ok_at = excluded.last_ok_at`,
        )
        .run(state.username, state.address, now);
    }
  }

  /** Deletes addresses not used for a successful login within `knownAddressTtl`. */
  prune(): number {
    return this.store.db
      .prepare('DELETE FROM login_addresses WHERE last_ok_at < ?')
      .run(this.options.now() - this.options.login.knownAddressTtlMs).changes;
  }

  private isKnownAddress(username: string, address: string, now: number): boolean {
    const row = this.store.db
      .prepare('SELECT last_ok_at FROM login_addresses WHERE username = ? AND address = ?')
      .get(username, address) as { last_ok_at: number } | undefined;
    return row !== undefined && row.last_ok_at > now - this.options.login.knownAddressTtlMs;
  }

  /** 0 when one more attempt fits under `limit`; otherwise how long until one does. */
  private waitFor(key: string, limit: number, now: number): number {
    const counter = this.counters.get(key);
    if (!counter) return 0;
    const windowMs = this.options.login.windowMs;
    counter.failures = counter.failures.filter((at) => at > now - windowMs);
    const used = counter.failures.length + counter.pending;
    if (used < limit) return 0;
    // Room comes when enough failures leave the window; attempts still pending settle on their own soon.
    const mustExpire = used - limit + 1;
    if (mustExpire > counter.failures.length) return PENDING_RETRY_MS;
    return Math.max(1, counter.failures[mustExpire - 1]! + windowMs - now);
  }

  private counter(key: string): Counter {
    let counter = this.counters.get(key);
    if (counter) {
      // Most recently used last, so that trimming drops the idle ones.
      this.counters.delete(key);
    } else {
      counter = { failures: [], pending: 0 };
    }
    this.counters.set(key, counter);
    return counter;
  }

  private trim(): void {
    if (this.counters.size <= MAX_KEYS) return;
    for (const [key, counter] of this.counters) {
      if (this.counters.size <= MAX_KEYS) break;
      if (counter.pending === 0) this.counters.delete(key);
    }
  }
}
