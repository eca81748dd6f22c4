import type { PruneCursor, PrunedChunk } from './half-message-ledger';
import { pruneHalfMessages, type HalfPruneResult } from './half-message-retention';
import type { HalfMessageStore, ResolvedHalfState } from './half-message-store';

export type { HalfPruneResult } from './half-message-retention';

/** What the pruner borrows from the engine. */
export interface HalfPrunerHost {
  /** Runs `apply` in the next group commit; resolves after that commit is durable. */
  submit<T>(apply: () => T): Promise<T>;
  now(): number;
  onWarning(message: string): void;
  /** True once the engine is closing: the pass ends after the chunk in progress. */
  stopped(): boolean;
}

export interface HalfPrunerOptions {
  /** Records resolved longer ago than this go; null keeps them all. */
  retentionMs: number | null;
  chunkSize: number;
}

const PRUNABLE: readonly ResolvedHalfState[] = ['committed', 'rolled_back', 'discarded'];

/** Where the walk stands: a state, a producer group, and the `sent_at` to go on from (null: find the next group). */
interface Walk {
  state: number;
  group: string;
  from: number | null;
}

/**
 * The engine's way through its half messages for retention: state by state and producer group by producer group,
 * each walked by `sent_at` along the (state, producer_group, sent_at) index, so that every chunk is an index range
 * and never a scan of the table. The pass itself (cutoff, chunks, warnings) is `pruneHalfMessages`.
 */
export class HalfMessagePruner {
  constructor(
    private readonly store: HalfMessageStore,
    private readonly host: HalfPrunerHost,
    private readonly options: HalfPrunerOptions,
  ) {}

  prune(): Promise<HalfPruneResult> {
    return pruneHalfMessages(this, {
      ...this.options,
      now: () => this.host.now(),
      onWarning: (message) => this.host.onWarning(message),
      stopped: () => this.host.stopped(),
    });
  }

  async pruneChunk(cutoff: number, limit: number, cursor: PruneCursor | null): Promise<PrunedChunk> {
    let walk: Walk = cursor ? (cursor.ledgerCursor as Walk) : { state: 0, group: '', from: null };
    for (;;) {
      const state = PRUNABLE[walk.state];
      if (state === undefined) return { deleted: [], next: null };
      if (walk.from === null) {
        const group = this.store.nextGroup(state, walk.group);
        walk =
          group === undefined
            ? { state: walk.state + 1, group: '', from: null }
            : { state: walk.state, group, from: Number.MIN_SAFE_INTEGER };
        continue;
      }
      const { group, from } = walk;
      const chunk = await this.host.submit(() => this.store.pruneChunk(state, group, from, cutoff, limit));
      const groupDone = chunk.txIds.length < limit || chunk.lastSentAt === null;
      return {
        deleted: chunk.txIds.map((txId) => ({ txId, producerGroup: group, state })),
        next: { ledgerCursor: { state: walk.state, group, from: groupDone ? null : chunk.lastSentAt } satisfies Walk },
      };
    }
  }
}
