import type { EndToEndLoad } from './end-to-end';
import type { BenchContext } from './types';

/** How long a quick run measures each load; a full run and a smoke run measure the same for every system. */
export interface QuickDurations {
  maxMs: number;
  rateMs: number;
}

/**
 * The two loads of an end-to-end comparison at the run's size: the highest sustained rate (stopped at a message count
 * as well as a duration) and the fixed offered rate. The same sizes for every system keep their figures comparable.
 */
export function endToEndLoads(
  ctx: BenchContext,
  quick: QuickDurations = { maxMs: 1000, rateMs: 1200 },
): { max: EndToEndLoad; rate: EndToEndLoad } {
  return {
    max: {
      kind: 'max',
      durationMs: ctx.size({ full: 5000, quick: quick.maxMs, smoke: 200 }),
      maxCount: ctx.size({ full: 2_000_000, quick: 500_000, smoke: 500 }),
    },
    rate: { kind: 'rate', durationMs: ctx.size({ full: 6000, quick: quick.rateMs, smoke: 250 }) },
  };
}
