import type { DedupCounters } from './dedup-store.interface';

/** The mutable totals behind `DedupStore.counters`; stores hand out copies so callers cannot change them. */
export class DedupCounterSet {
  private readonly totals: DedupCounters = { processed: 0, duplicates: 0, busy: 0 };

  processed(): void {
    this.totals.processed += 1;
  }

  duplicate(): void {
    this.totals.duplicates += 1;
  }

  busy(): void {
    this.totals.busy += 1;
  }

  snapshot(): DedupCounters {
    return { ...this.totals };
  }
}
