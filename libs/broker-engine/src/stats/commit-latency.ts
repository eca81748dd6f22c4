import type { CommitLatencyStats } from '../engine.types';

/** Commits whose durations the recent figures are taken from. */
const RECENT_COMMITS = 512;

/**
 * Durations of the engine's group commits (the transaction and, in `sync` mode, its fsync). Recording one is a store
 * into a fixed array and two additions, so the commit path pays for its two timestamps and nothing else; sorting
 * the recent durations waits until someone reads them.
 */
export class CommitLatency {
  private readonly recent = new Float64Array(RECENT_COMMITS);
  private next = 0;
  private filled = 0;
  private count = 0;
  private totalMs = 0;

  record(durationMs: number): void {
    this.recent[this.next] = durationMs;
    this.next = (this.next + 1) % RECENT_COMMITS;
    if (this.filled < RECENT_COMMITS) this.filled += 1;
    this.count += 1;
    this.totalMs += durationMs;
  }

  snapshot(): CommitLatencyStats {
    const sorted = this.recent.slice(0, this.filled).sort();
    const at = (quantile: number): number =>
      sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.ceil(quantile * sorted.length) - 1)]!;
    return {
      commits: this.count,
      totalMs: this.totalMs,
      recent: {
        commits: sorted.length,
        p50Ms: at(0.5),
        p99Ms: at(0.99),
        maxMs: sorted.length === 0 ? 0 : sorted[sorted.length - 1]!,
      },
    };
  }
}
