import type { EntityManager } from 'typeorm';
import { DedupBusyError } from '../errors/dedup-busy.error';
import { DedupUnavailableError } from '../errors/dedup-unavailable.error';
import { DedupCounterSet } from './dedup-counter-set';
import { DEFAULT_DONE_TTL_MS, DEFAULT_PROCESSING_TTL_MS, resolveDedupDuration } from './dedup-duration';
import type { DedupCounters, DedupOutcome, DedupStore } from './dedup-store.interface';

export interface MemoryDedupStoreOptions {
  /** How long a claim lasts if its run never finishes. Default 5 min. */
  processingTtlMs?: number | string;
  /** The dedup window. Default 7 days. */
  doneTtlMs?: number | string;
  /** Clock in epoch milliseconds; tests pass a manual one. */
  now?: () => number;
}

interface Entry {
  state: 'processing' | 'done';
  /** Identifies the run that holds a PROCESSING claim. */
  owner: number;
  expiresAt: number;
}

/** Expired entries are dropped when read, and all of them every this many calls, to bound memory. */
const SWEEP_EVERY = 1024;

/**
 * Keeps PROCESSING/DONE states in this process's memory, with the same rules and TTLs as the Redis store. Nothing
 * survives a restart and nothing is shared between processes: for tests and single-process demos.
 */
export class MemoryDedupStore implements DedupStore {
  readonly kind = 'memory' as const;
  private readonly processingTtlMs: number;
  private readonly doneTtlMs: number;
  private readonly now: () => number;
  private readonly groups = new Map<string, Map<string, Entry>>();
  private readonly totals = new DedupCounterSet();
  private nextOwner = 1;
  private callsSinceSweep = 0;
  private closed = false;

  constructor(options: MemoryDedupStoreOptions = {}) {
    this.processingTtlMs = resolveDedupDuration(options.processingTtlMs, DEFAULT_PROCESSING_TTL_MS, 'processingTtlMs');
    this.doneTtlMs = resolveDedupDuration(options.doneTtlMs, DEFAULT_DONE_TTL_MS, 'doneTtlMs');
    this.now = options.now ?? Date.now;
  }

  get counters(): DedupCounters {
    return this.totals.snapshot();
  }

  async execute(
    group: string,
    key: string,
    work: (manager: EntityManager | undefined) => Promise<void>,
  ): Promise<DedupOutcome> {
    if (this.closed) throw new DedupUnavailableError('memory', new Error('the store is closed'));
    this.maybeSweep();
    const entries = this.entriesOf(group);
    const current = this.live(entries, key);
    if (current?.state === 'done') {
      this.totals.duplicate();
      return 'duplicate';
    }
    if (current?.state === 'processing') {
      this.totals.busy();
      throw new DedupBusyError(group, key);
    }
    const owner = this.nextOwner++;
    entries.set(key, { state: 'processing', owner, expiresAt: this.now() + this.processingTtlMs });

    try {
      await work(undefined);
    } catch (error) {
      // Looked up again: a sweep during `work` may have replaced the group's map.
      const latest = this.entriesOf(group);
      if (this.ownsClaim(latest, key, owner)) latest.delete(key);
      throw error;
    }

    // A run whose claim expired must not overwrite a newer run's claim; when nobody holds the key, recording
    // DONE is still true and keeps a late redelivery from running the work again.
    const latest = this.entriesOf(group);
    const after = this.live(latest, key);
    if (after === undefined || (after.state === 'processing' && after.owner === owner)) {
      latest.set(key, { state: 'done', owner, expiresAt: this.now() + this.doneTtlMs });
    }
    this.totals.processed();
    return 'processed';
  }

  async close(): Promise<void> {
    this.closed = true;
    this.groups.clear();
  }

  private entriesOf(group: string): Map<string, Entry> {
    let entries = this.groups.get(group);
    if (!entries) {
      entries = new Map();
      this.groups.set(group, entries);
    }
    return entries;
  }

  private live(entries: Map<string, Entry>, key: string): Entry | undefined {
    const entry = entries.get(key);
    if (entry && entry.expiresAt <= this.now()) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  }

  private ownsClaim(entries: Map<string, Entry>, key: string, owner: number): boolean {
    const entry = this.live(entries, key);
    return entry?.state === 'processing' && entry.owner === owner;
  }

  private maybeSweep(): void {
    this.callsSinceSweep += 1;
    if (this.callsSinceSweep < SWEEP_EVERY) return;
    this.callsSinceSweep = 0;
    const now = this.now();
    for (const [group, entries] of this.groups) {
      for (const [key, entry] of entries) {
        if (entry.expiresAt <= now) entries.delete(key);
      }
      if (entries.size === 0) this.groups.delete(group);
    }
  }
}
