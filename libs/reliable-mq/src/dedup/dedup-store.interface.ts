import type { EntityManager } from 'typeorm';

export type DedupOutcome = 'processed' | 'duplicate';

/** Totals since the store was created; `busy` counts rejections with `DedupBusyError`. */
export interface DedupCounters {
  processed: number;
  duplicates: number;
  busy: number;
}

/**
 * Makes a handler's effect happen at most once per (group, business key).
 *
 * Contract (the dedup contract suite in `@reliable-mq/nestjs/testing` checks it):
 * - `execute` runs `work` and resolves `processed` when no earlier run of the same
 *   (group, key) succeeded; once one has, later calls resolve `duplicate` without running it;
 * - while a run is in progress, a concurrent call of the same (group, key) never runs `work`
 *   alongside it, and never resolves `duplicate` before the first run has succeeded:
 *   - `redis` and `memory` stores reject at once with `DedupBusyError` (the message is retried later);
 *   - the `db` store may instead wait on the database lock of the inbox row until the first
 *     transaction ends, then resolve `duplicate` (the first committed) or run `work` itself (the
 *     first rolled back). It may also reject with `DedupBusyError` (lock timeout, deadlock);
 * - when `work` throws, the key is released and the error is rethrown, so a retry runs it again;
 * - keys of different groups never collide, whatever characters either contains;
 * - keys are compared exactly: case, whitespace and unicode count, and long keys (the consumer
 *   allows 512 characters) stay distinct;
 * - when the store cannot be reached, it rejects with `DedupUnavailableError` without running `work`.
 */
export interface DedupStore {
  readonly kind: 'redis' | 'db' | 'memory';
  /** A snapshot; reading it twice gives two objects. */
  readonly counters: DedupCounters;
  /**
   * `manager` is handed to `work` by stores that keep the dedup record in the handler's own
   * transaction (the `db` store); others pass undefined.
   */
  execute(
    group: string,
    key: string,
    work: (manager: EntityManager | undefined) => Promise<void>,
  ): Promise<DedupOutcome>;
  close(): Promise<void>;
}
