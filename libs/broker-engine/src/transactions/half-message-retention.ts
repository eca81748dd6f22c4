import type { HalfMessageLedger, PruneCursor } from './half-message-ledger';

/** Deleted records per state in one pass. */
export interface HalfPruneResult {
  committed: number;
  rolled_back: number;
  discarded: number;
}

export interface HalfRetentionOptions {
  /** Records resolved longer ago than this go; null keeps them all. */
  retentionMs: number | null;
  chunkSize: number;
  now(): number;
  onWarning(message: string): void;
  /** True once the owner is closing: the pass ends after the chunk in progress. */
  stopped(): boolean;
}

/** Transaction ids named in the warning about discarded records, per producer group. */
const NAMED_IDS = 10;

/**
 * One retention pass over a ledger: deletes records of resolved half messages (committed, rolled back, or
 * discarded after their last check) whose resolution is older than the retention, one chunk per storage
 * transaction, yielding to the event loop between chunks, so that no write transaction grows with the table.
 * Unresolved records are never deleted, so a pending transaction and its checkbacks are untouched. A discarded
 * record leaves without an operator's decision: a warning per producer group names them, for the audit trail.
 */
export async function pruneHalfMessages(
  ledger: Pick<HalfMessageLedger, 'pruneChunk'>,
  options: HalfRetentionOptions,
): Promise<HalfPruneResult> {
  const result: HalfPruneResult = { committed: 0, rolled_back: 0, discarded: 0 };
  const { retentionMs, chunkSize } = options;
  if (retentionMs === null) return result;
  // One cutoff for the whole pass: a record resolved while the pass runs is younger than it.
  const cutoff = options.now() - retentionMs;
  const discarded = new Map<string, { count: number; named: string[] }>();
  let cursor: PruneCursor | null = null;
  for (let first = true; first || cursor !== null; first = false) {
    if (options.stopped()) break;
    if (!first) await new Promise<void>((resolve) => setImmediate(resolve));
    const chunk = await ledger.pruneChunk(cutoff, chunkSize, cursor);
    for (const pruned of chunk.deleted) {
      result[pruned.state]++;
      if (pruned.state !== 'discarded') continue;
      const group = discarded.get(pruned.producerGroup) ?? { count: 0, named: [] };
      group.count++;
      if (group.named.length < NAMED_IDS) group.named.push(pruned.txId);
      discarded.set(pruned.producerGroup, group);
    }
    cursor = chunk.next;
  }
  for (const [group, deleted] of discarded) warnDiscarded(options, group, deleted, retentionMs);
  return result;
}

function warnDiscarded(
  options: HalfRetentionOptions,
  group: string,
  deleted: { count: number; named: string[] },
  retentionMs: number,
): void {
  const more = deleted.count > deleted.named.length ? ` and ${deleted.count - deleted.named.length} more` : '';
  options.onWarning(
    `Deleted ${deleted.count} discarded half message record(s) of producer group "${group}" left undecided for ` +
      `longer than halfMessageRetentionMs (${retentionMs} ms): ${deleted.named.join(', ')}${more}. ` +
      'Their messages were never delivered; raise halfMessageRetentionMs (or set it to null) to give operators more time.',
  );
}
