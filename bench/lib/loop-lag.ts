import { LatencySamples, nowMs } from './samples';

const TICK_MS = 1;

/**
 * How late the event loop of this thread runs its callbacks: a 1 ms interval timer, each tick's lateness beyond its
 * 1 ms one sample, as `perf_hooks.monitorEventLoopDelay` measures it, but keeping the samples so that rounds add up
 * and percentiles are taken over all of them. A long block is one late tick, not one sample per millisecond it lasted.
 */
export class LoopLagSampler {
  readonly samples = new LatencySamples();
  /** The latest tick seen, in ms beyond its due time. */
  maxMs = 0;
  private timer: NodeJS.Timeout | null = null;
  private last = 0;

  start(): void {
    if (this.timer) return;
    this.last = nowMs();
    this.timer = setInterval(() => {
      const now = nowMs();
      const lag = Math.max(0, now - this.last - TICK_MS);
      this.last = now;
      this.samples.add(lag);
      if (lag > this.maxMs) this.maxMs = lag;
    }, TICK_MS);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
