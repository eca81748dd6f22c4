/**
 * Latency samples and the figures drawn from them. Samples are kept in a typed array that grows up to a bound;
 * past it, reservoir sampling keeps a uniform subset, so a long run cannot exhaust memory and the percentiles stay
 * unbiased.
 */
export class LatencySamples {
  private values = new Float64Array(4096);
  private length = 0;
  private seen = 0;

  constructor(private readonly maxKept = 1_000_000) {}

  add(ms: number): void {
    this.seen += 1;
    if (this.length < this.maxKept) {
      if (this.length === this.values.length) {
        const grown = new Float64Array(Math.min(this.maxKept, this.values.length * 2));
        grown.set(this.values);
        this.values = grown;
      }
      this.values[this.length++] = ms;
      return;
    }
    const slot = Math.floor(Math.random() * this.seen);
    if (slot < this.maxKept) this.values[slot] = ms;
  }

  addAll(other: LatencySamples): void {
    for (const value of other.toArray()) this.add(value);
  }

  get count(): number {
    return this.seen;
  }

  toArray(): Float64Array {
    return this.values.subarray(0, this.length);
  }

  /** Percentile `p` in 0..100 by the nearest-rank method; null without samples. */
  percentile(p: number): number | null {
    if (this.length === 0) return null;
    const sorted = Float64Array.from(this.toArray()).sort();
    return percentileOfSorted(sorted, p);
  }

  /** Several percentiles with one sort. */
  percentiles(ps: readonly number[]): Array<number | null> {
    if (this.length === 0) return ps.map(() => null);
    const sorted = Float64Array.from(this.toArray()).sort();
    return ps.map((p) => percentileOfSorted(sorted, p));
  }

  mean(): number | null {
    if (this.length === 0) return null;
    let sum = 0;
    for (const value of this.toArray()) sum += value;
    return sum / this.length;
  }
}

export function percentileOfSorted(sorted: Float64Array, p: number): number {
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Milliseconds from a monotonic clock. */
export const nowMs = (): number => performance.now();
