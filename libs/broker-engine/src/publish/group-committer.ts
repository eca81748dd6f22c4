import type { Database } from 'better-sqlite3';
import { EngineClosedError, StorageFullError } from '../errors';
import { CommitLatency } from '../stats/commit-latency';
import { isStorageFull } from '../storage/sqlite-errors';
import { detachedScope } from '../util/detached-scope';

/** Hooks for work that happens once per commit, around all the operations in it. */
export interface CommitHooks {
  /** Runs inside the transaction after every operation: writes queue heads and dirty offsets. */
  beforeCommit(): void;
  afterCommit(): void;
  afterRollback(): void;
  /** Returns an error when publishing must be refused right now (resource guards). */
  publishGuard(): Error | null;
  mapError(error: unknown): Error;
}

interface PendingOp {
  apply: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  publish: boolean;
}

/**
 * Group commit. Writers hand in operations; everything that arrives while the previous
 * commit runs is written in the next single transaction, and each writer's promise
 * settles only after that transaction is committed (and, in `sync` mode, fsynced).
 * One fsync so serves many concurrent publishers.
 */
export class GroupCommitter {
  private pending: PendingOp[] = [];
  private flushScheduled = false;
  private timer: NodeJS.Timeout | null = null;
  private flushing = false;
  private stopped = false;
  private readonly detached = detachedScope();
  /** Successful commits only: a failed one says nothing about the disk's speed. */
  readonly latency = new CommitLatency();

  constructor(
    private readonly db: Database,
    private readonly hooks: CommitHooks,
    private readonly storageLimitBytes: number | null,
  ) {}

  submit<T>(apply: () => T, options: { publish: boolean }): Promise<T> {
    if (this.stopped) return Promise.reject(new EngineClosedError('write'));
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ apply, resolve: resolve as (value: unknown) => void, reject, publish: options.publish });
      this.scheduleFlush();
    });
  }

  /** Asks for a commit soon even with no operations queued, e.g. to persist consumer offsets. */
  requestFlush(delayMs: number): void {
    if (this.stopped || this.flushScheduled || this.timer) return;
    this.timer = setTimeout(
      () =>
        this.detached(() => {
          this.timer = null;
          this.flush();
        }),
      delayMs,
    );
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.detached(() => this.flush()));
  }

  /** Writes everything queued now, synchronously. */
  flush(): void {
    this.flushScheduled = false;
    if (this.stopped) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.flushing) return;
    this.flushing = true;
    try {
      let ops = this.pending;
      this.pending = [];
      const guard = ops.some((op) => op.publish) ? this.hooks.publishGuard() : null;
      if (guard) {
        for (const op of ops) if (op.publish) op.reject(guard);
        ops = ops.filter((op) => !op.publish);
      }
      this.commit(ops);
    } finally {
      this.flushing = false;
    }
    if (this.pending.length > 0) this.scheduleFlush();
  }

  private commit(ops: PendingOp[]): void {
    try {
      const results = this.runTransaction(ops);
      ops.forEach((op, index) => op.resolve(results[index]));
    } catch (error) {
      const others = ops.filter((op) => !op.publish);
      if (isStorageFull(error) && others.length < ops.length) {
        // Publishing is what fills the database. Offsets (the commit hooks), retention deletes and
        // other internal writes must still land, or nothing could ever free space again.
        const mapped = this.mapError(error);
        for (const op of ops) if (op.publish) op.reject(mapped);
        this.commit(others);
        return;
      }
      if (ops.length <= 1 || isStorageFull(error)) {
        const mapped = this.mapError(error);
        for (const op of ops) op.reject(mapped);
        return;
      }
      // One bad operation must not fail its neighbours: retry each in its own transaction.
      for (const op of ops) this.commit([op]);
    }
  }

  private runTransaction(ops: PendingOp[]): unknown[] {
    let results: unknown[] = [];
    const started = performance.now();
    try {
      this.db
        .transaction(() => {
          results = ops.map((op) => op.apply());
          this.hooks.beforeCommit();
        })
        .immediate();
    } catch (error) {
      this.hooks.afterRollback();
      throw error;
    }
    this.latency.record(performance.now() - started);
    this.hooks.afterCommit();
    return results;
  }

  private mapError(error: unknown): Error {
    if (isStorageFull(error)) return new StorageFullError(this.storageLimitBytes);
    return this.hooks.mapError(error);
  }

  /** Refuses further writes; call after the last flush, before closing the database. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const op of this.pending.splice(0)) op.reject(new EngineClosedError('write'));
  }

  get queued(): number {
    return this.pending.length;
  }
}
