import { LatencySamples, nowMs } from './samples';

export interface ClosedLoopOptions {
  /** Concurrent workers; each waits for its operation before starting the next. */
  workers: number;
  /** Stop starting operations after this long. */
  durationMs: number;
  /** Stop starting operations after this many, whatever the time. */
  maxCount: number;
  /** One operation; `seq` counts from 0 across all workers. */
  op: (seq: number, worker: number) => Promise<void>;
  /** Record each operation's duration as a latency sample. Default true. */
  recordLatency?: boolean;
}

export interface LoopResult {
  count: number;
  elapsedMs: number;
  latencies: LatencySamples;
  errors: number;
  firstError?: string;
}

/** Runs `workers` loops of awaited operations, bounded by time and by count. */
export async function closedLoop(options: ClosedLoopOptions): Promise<LoopResult> {
  const latencies = new LatencySamples();
  const record = options.recordLatency ?? true;
  let issued = 0;
  let completed = 0;
  let errors = 0;
  let firstError: string | undefined;
  const started = nowMs();
  const deadline = started + options.durationMs;
  await Promise.all(
    Array.from({ length: options.workers }, async (_, worker) => {
      while (issued < options.maxCount && nowMs() < deadline) {
        const seq = issued++;
        const t0 = nowMs();
        try {
          await options.op(seq, worker);
          completed += 1;
          if (record) latencies.add(nowMs() - t0);
        } catch (error) {
          errors += 1;
          firstError ??= String((error as Error)?.message ?? error);
          // A failing operation must not spin: the run is reported as failed anyway.
          if (errors > 100) return;
        }
      }
    }),
  );
  return { count: completed, elapsedMs: nowMs() - started, latencies, errors, firstError };
}

export interface OpenLoopOptions {
  /** Offered rate in messages per second, whatever the system under test does. */
  ratePerSec: number;
  durationMs: number;
  /** Sends still unsettled beyond which a due send is skipped and counted as `skipped` (the rate was not sustained). */
  maxOutstanding: number;
  /** Starts one send; `intendedAt` is when it was due (nowMs clock), the start of its latency. */
  send: (seq: number, intendedAt: number) => Promise<void>;
}

export interface OpenLoopResult {
  sent: number;
  skipped: number;
  errors: number;
  firstError?: string;
  elapsedMs: number;
}

/**
 * Offers a fixed rate: every tick sends what is due by the schedule, without waiting for earlier sends, so a slow
 * system builds up latency instead of silently lowering the rate (no coordinated omission). Latency is measured by
 * the caller from `intendedAt`.
 */
export async function openLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const interval = 1000 / options.ratePerSec;
  const total = Math.floor((options.durationMs / 1000) * options.ratePerSec);
  const started = nowMs();
  let next = 0;
  let outstanding = 0;
  let skipped = 0;
  let errors = 0;
  let firstError: string | undefined;
  const settled: Promise<void>[] = [];
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const due = Math.min(total, Math.floor((nowMs() - started) / interval) + 1);
      while (next < due) {
        const seq = next++;
        if (outstanding >= options.maxOutstanding) {
          skipped += 1;
          continue;
        }
        outstanding += 1;
        const done = options
          .send(seq, started + seq * interval)
          .catch((error: unknown) => {
            errors += 1;
            firstError ??= String((error as Error)?.message ?? error);
          })
          .finally(() => {
            outstanding -= 1;
          });
        if (settled.length < 1_000_000) settled.push(done);
      }
      if (next >= total) resolve();
      else setTimeout(tick, Math.max(0, Math.min(1, started + next * interval - nowMs())));
    };
    tick();
  });
  await Promise.all(settled);
  return { sent: next - skipped, skipped, errors, firstError, elapsedMs: nowMs() - started };
}

/** Polls `condition` until it holds or `timeoutMs` passes; resolves whether it held. */
export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  intervalMs = 5,
): Promise<boolean> {
  const deadline = nowMs() + timeoutMs;
  for (;;) {
    if (await condition()) return true;
    if (nowMs() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
