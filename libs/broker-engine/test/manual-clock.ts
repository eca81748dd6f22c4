import { SharedSkewClock, type Clock } from '@reliable-mq/engine';

/** A clock that only moves when told to: consume timeouts, sessions and retry delays become exact in tests. */
export class ManualClock implements Clock {
  constructor(private current = 1_700_000_000_000) {}

  now(): number {
    return this.current;
  }

  advance(ms: number): void {
    this.current += ms;
  }
}

/**
 * Real time plus a skew the test can push forward: short delays pass on their own, long timeouts on demand. The skew
 * is shared memory, so an engine in a worker thread reads the same time.
 */
export class SkewedClock extends SharedSkewClock {}

/** Resolves once pending I/O callbacks and timers of the current turn have run. */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A promise with its resolve and reject exposed, to hold a handler open. */
export interface Gate {
  promise: Promise<void>;
  open(): void;
  fail(error: Error): void;
}

export function gate(): Gate {
  let open!: () => void;
  let fail!: (error: Error) => void;
  const promise = new Promise<void>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { promise, open, fail };
}
