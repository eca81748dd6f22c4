import type { HalfMessageStore, ResolvedHalfState } from './half-message-store';

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

/** Deleted records per state in one pass. */
export interface HalfPruneResult {
  committed: number;
  rolled_back: number;
  discarded: number;
}

const PRUNABLE: readonly ResolvedHalfState[] = ['committed', 'rolled_back', 'discarded'];
/** Transaction ids named in the warning about discarded records, per producer group. */
const NAMED_IDS = 10;

/**
 * Deletes records of resolved half messages (committed, rolled back, or discarded after their last check) whose
 * resolution is older than the retention. Unresolved records are never read, so a pending transaction and its
 * checkbacks are untouched. Work goes state by state and producer group by producer group, at most `chunkSize`
 * records per commit, yielding to the event loop between chunks, so no write transaction grows with the table.
 */
export class HalfMessagePruner {
  constructor(
    private readonly store: HalfMessageStore,
    private readonly host: HalfPrunerHost,
    private readonly options: HalfPrunerOptions,
  ) {}

  async prune(): Promise<HalfPruneResult> {
    const result: HalfPruneResult = { committed: 0, rolled_back: 0, discarded: 0 };
    const { retentionMs, chunkSize } = this.options;
    if (retentionMs === null) return result;
    // One cutoff for the whole pass: a record resolved while the pass runs is younger than it.
    const cutoff = this.host.now() - retentionMs;
    for (const state of PRUNABLE) {
      let group = '';
      for (;;) {
        if (this.host.stopped()) return result;
        const next = this.store.nextGroup(state, group);
        if (next === undefined) break;
        group = next;
        const deleted = await this.pruneGroup(state, group, cutoff, chunkSize);
        result[state] += deleted.count;
        if (state === 'discarded' && deleted.count > 0) this.warnDiscarded(group, deleted, retentionMs);
      }
    }
    return result;
  }

  private async pruneGroup(
    state: ResolvedHalfState,
    group: string,
    cutoff: number,
    chunkSize: number,
  ): Promise<{ count: number; named: string[] }> {
    let from = Number.MIN_SAFE_INTEGER;
    let count = 0;
    const named: string[] = [];
    for (;;) {
      if (this.host.stopped()) break;
      const chunk = await this.host.submit(() => this.store.pruneChunk(state, group, from, cutoff, chunkSize));
      count += chunk.txIds.length;
      for (const txId of chunk.txIds) if (named.length < NAMED_IDS) named.push(txId);
      if (chunk.txIds.length < chunkSize || chunk.lastSentAt === null) break;
      from = chunk.lastSentAt;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return { count, named };
  }

  /** A discarded record leaves without an operator's decision: say so, with the ids, for the audit trail. */
  private warnDiscarded(group: string, deleted: { count: number; named: string[] }, retentionMs: number): void {
    const more = deleted.count > deleted.named.length ? ` and ${deleted.count - deleted.named.length} more` : '';
    this.host.onWarning(
      `Deleted ${deleted.count} discarded half message record(s) of producer group "${group}" left undecided for ` +
        `longer than halfMessageRetentionMs (${retentionMs} ms): ${deleted.named.join(', ')}${more}. ` +
        'Their messages were never delivered; raise halfMessageRetentionMs (or set it to null) to give operators more time.',
    );
  }
}
