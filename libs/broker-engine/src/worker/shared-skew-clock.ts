import type { Clock } from '../engine.types';

/**
 * Real time plus a skew kept in shared memory, so that an engine in a worker thread reads the same time as the
 * thread that moves it: the one clock a worker engine accepts. Tests push the skew forward to pass long timeouts.
 */
export class SharedSkewClock implements Clock {
  readonly skew: SharedArrayBuffer;
  private readonly cell: Float64Array;

  constructor(skew: SharedArrayBuffer = new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT)) {
    this.skew = skew;
    this.cell = new Float64Array(skew);
  }

  now(): number {
    return Date.now() + this.cell[0]!;
  }

  advance(ms: number): void {
    this.cell[0] = this.cell[0]! + ms;
  }
}
