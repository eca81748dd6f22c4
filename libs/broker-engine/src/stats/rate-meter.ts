/** Events per second over a sliding window of one-second buckets. */
export class RateMeter {
  private readonly buckets: number[];
  private readonly stamps: number[];

  constructor(private readonly windowSeconds = 10) {
    this.buckets = new Array<number>(windowSeconds).fill(0);
    this.stamps = new Array<number>(windowSeconds).fill(-1);
  }

  mark(now: number, count = 1): void {
    const second = Math.floor(now / 1000);
    const slot = second % this.windowSeconds;
    if (this.stamps[slot] !== second) {
      this.stamps[slot] = second;
      this.buckets[slot] = 0;
    }
    this.buckets[slot]! += count;
  }

  ratePerSecond(now: number): number {
    const second = Math.floor(now / 1000);
    let total = 0;
    for (let index = 0; index < this.windowSeconds; index++) {
      const stamp = this.stamps[index]!;
      if (stamp > second - this.windowSeconds && stamp <= second) total += this.buckets[index]!;
    }
    return total / this.windowSeconds;
  }
}
