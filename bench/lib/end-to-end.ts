import { closedLoop, openLoop, sleep, waitUntil } from './loops';
import { LatencySamples, nowMs } from './samples';
import type { Sample } from './types';

/** Publishers of the highest-rate runs, for every system alike. */
export const E2E_PUBLISHERS = 64;
/** Unacked messages handed to the consumer at a time, for every system alike (the engine's and the framework's default). */
export const E2E_PREFETCH = 32;
/**
 * Messages published but not yet handled, shared by the publishers of a highest-rate run: a publisher waits for a
 * free slot before it sends. Four per publisher leaves room for a confirm round, a commit and a prefetch's worth of
 * deliveries in flight, and keeps a system that confirms faster than its consumer handles from building a backlog
 * whose waiting time would then be reported as latency.
 */
export const E2E_WINDOW = 256;
/** Offered rate of the fixed-rate runs. */
export const E2E_FIXED_RATE = 2000;
export const E2E_DRAIN_TIMEOUT_MS = 60_000;
const WARM_UP_DRAIN_TIMEOUT_MS = 15_000;

export type EndToEndLoad =
  | { kind: 'max'; durationMs: number; maxCount: number; window?: number }
  | { kind: 'rate'; durationMs: number; ratePerSec?: number };

/**
 * What the consumer side of a rig reports: its handler calls `handled(sentAt)` once per message, with the send time
 * the message carries. Counts, the time of the last call and the send → handler latencies are kept here; the shared
 * window, when a run installs one, gets its slot back here.
 */
export class HandlerProbe {
  count = 0;
  lastAt = 0;
  private latencies = new LatencySamples();
  private onHandled: (() => void) | null = null;

  handled(sentAt: number): void {
    const now = nowMs();
    this.lastAt = now;
    this.latencies.add(now - sentAt);
    this.count += 1;
    this.onHandled?.();
  }

  takeLatencies(): LatencySamples {
    const taken = this.latencies;
    this.latencies = new LatencySamples();
    return taken;
  }

  listen(listener: (() => void) | null): void {
    this.onHandled = listener;
  }
}

/** What every system exposes to the shared driver. */
export interface EndToEndRig {
  /** Resolves when the broker has confirmed the message as durable. The body carries `sentAt`. */
  publish(seq: number, sentAt: number): Promise<void>;
  readonly probe: HandlerProbe;
  close(): Promise<void>;
  /** Told when the measured window opens, after the warm-up, e.g. to sample something over the same time. */
  measureStarted?(): void;
  /** Told when it closes: every message of the run handled, or the drain timed out. */
  measureEnded?(): void;
}

/**
 * Slots for messages in flight from publish to handler. `acquire` resolves at once while a slot is free and
 * otherwise when a handled message frees one, first come first served.
 */
export class InflightWindow {
  private used = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`window size must be a positive integer; got ${size}`);
  }

  acquire(): Promise<void> | undefined {
    if (this.used < this.size) {
      this.used += 1;
      return undefined;
    }
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** A message left the window (handled, or its publish failed): its slot goes to the longest waiter. */
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.used = Math.max(0, this.used - 1);
  }

  /** Wakes every waiter, e.g. when the run stops; they send nothing more once their loop's deadline has passed. */
  releaseAll(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  get inUse(): number {
    return this.used;
  }
}

/**
 * Drives a rig: a warm-up, then one of two loads.
 *
 * - `max`: `E2E_PUBLISHERS` closed-loop publishers share a window of `E2E_WINDOW` messages published but not yet
 *   handled. A publisher takes a slot, sends and awaits the confirm; the handler frees the slot. The rate is
 *   therefore the highest the system sustains end to end (the consumer keeps up, by construction), and the latency
 *   (publish call → handler) is that of a steady state with a bounded amount in flight, the same bound for every
 *   system. Throughput is messages handled over the time from the first send to the last handler call.
 * - `rate`: an open loop offering a fixed rate on a schedule whatever the system does (no coordinated omission);
 *   latency runs from the scheduled send time.
 */
export async function driveEndToEnd(rig: EndToEndRig, load: EndToEndLoad): Promise<Sample> {
  const probe = rig.probe;
  const warm = await closedLoop({
    workers: 8,
    durationMs: 300,
    maxCount: 300,
    op: (seq) => rig.publish(-1 - seq, nowMs()),
    recordLatency: false,
  });
  // A system that does not deliver its warm-up would not deliver the run either: fail now, not after a second wait.
  if (!(await waitUntil(() => probe.count >= warm.count, WARM_UP_DRAIN_TIMEOUT_MS))) {
    throw new Error(
      `warm-up: only ${probe.count} of ${warm.count} messages reached the handler within ${WARM_UP_DRAIN_TIMEOUT_MS} ms`,
    );
  }
  await sleep(50);
  probe.takeLatencies();
  const base = probe.count;
  rig.measureStarted?.();
  const started = nowMs();
  let published: number;
  let errors = 0;
  let firstError: string | undefined;
  const extra: Record<string, number> = {};
  if (load.kind === 'max') {
    const window = new InflightWindow(load.window ?? E2E_WINDOW);
    probe.listen(() => window.release());
    const deadline = started + load.durationMs;
    const stopper = setTimeout(() => window.releaseAll(), load.durationMs + 10);
    let confirmed = 0;
    try {
      const result = await closedLoop({
        workers: E2E_PUBLISHERS,
        durationMs: load.durationMs,
        maxCount: load.maxCount,
        op: async (seq) => {
          const wait = window.acquire();
          if (wait) await wait;
          // Woken by the stop: the run's time is up, and nothing more is sent.
          if (nowMs() >= deadline) return;
          try {
            await rig.publish(seq, nowMs());
          } catch (error) {
            window.release();
            throw error;
          }
          confirmed += 1;
        },
        recordLatency: false,
      });
      published = confirmed;
      errors = result.errors;
      firstError = result.firstError;
    } finally {
      clearTimeout(stopper);
    }
  } else {
    const result = await openLoop({
      ratePerSec: load.ratePerSec ?? E2E_FIXED_RATE,
      durationMs: load.durationMs,
      maxOutstanding: 20_000,
      send: (seq, intendedAt) => rig.publish(seq, intendedAt),
    });
    published = result.sent;
    errors = result.errors;
    firstError = result.firstError;
    extra.skipped = result.skipped;
  }
  const drained = await waitUntil(() => probe.count - base >= published, E2E_DRAIN_TIMEOUT_MS);
  rig.measureEnded?.();
  probe.listen(null);
  if (!drained) {
    errors += 1;
    firstError ??= `only ${probe.count - base} of ${published} messages reached the handler within ${E2E_DRAIN_TIMEOUT_MS} ms`;
  }
  const count = probe.count - base;
  return { count, elapsedMs: probe.lastAt - started, latencies: probe.takeLatencies(), errors, firstError, extra };
}

/** Opens a rig, drives it and closes it whatever happens. */
export async function withEndToEndRig(open: () => Promise<EndToEndRig>, load: EndToEndLoad): Promise<Sample> {
  const rig = await open();
  try {
    return await driveEndToEnd(rig, load);
  } finally {
    await rig.close();
  }
}
