import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HalfMessageState } from '../engine.types';
import { migrate } from '../storage/schema';
import { HalfMessagePruner } from './half-message-pruner';
import { HalfMessageStore } from './half-message-store';

const NOW = 10_000_000_000;
const HOUR = 3_600_000;

describe('HalfMessagePruner', () => {
  let db: Database.Database;
  let store: HalfMessageStore;
  /** Records deleted by each commit, in order. */
  let chunks: number[];
  let warnings: string[];
  let stopped: boolean;
  let seq: number;

  beforeEach(() => {
    db = new Database(':memory:');
    migrate(db, ':memory:');
    store = new HalfMessageStore(db);
    chunks = [];
    warnings = [];
    stopped = false;
    seq = 0;
  });
  afterEach(() => db.close());

  const pruner = (chunkSize: number, retentionMs: number | null = HOUR): HalfMessagePruner =>
    new HalfMessagePruner(
      store,
      {
        submit: <T>(apply: () => T): Promise<T> => {
          const result = db.transaction(apply)();
          chunks.push((result as { txIds: string[] }).txIds.length);
          return Promise.resolve(result);
        },
        now: () => NOW,
        onWarning: (message) => warnings.push(message),
        stopped: () => stopped,
      },
      { retentionMs, chunkSize },
    );

  /** Inserts `count` records; `resolvedAt` null leaves them unresolved. Returns their transaction ids. */
  function add(
    count: number,
    state: HalfMessageState,
    sentAt: number,
    resolvedAt: number | null,
    group = 'orders',
  ): string[] {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const txId = `tx-${String(++seq).padStart(4, '0')}`;
      store.insert({
        txId,
        messageId: `m-${seq}`,
        producerGroup: group,
        topic: 't',
        key: null,
        tags: null,
        headers: null,
        body: Buffer.from('x'),
        sentAt: sentAt + i,
        deliverAt: null,
        ttlMs: null,
        nextCheckAt: sentAt + 6_000,
      });
      if (state !== 'unresolved') {
        db.prepare('UPDATE half_messages SET state = ?, resolved_at = ? WHERE tx_id = ?').run(state, resolvedAt, txId);
      }
      ids.push(txId);
    }
    return ids;
  }

  const remaining = (): string[] =>
    (db.prepare('SELECT tx_id FROM half_messages ORDER BY tx_id').all() as Array<{ tx_id: string }>).map(
      (row) => row.tx_id,
    );

  it('deletes in chunks of at most chunkSize, each its own commit, per state and producer group', async () => {
    add(11, 'committed', NOW - 3 * HOUR, NOW - 2 * HOUR, 'billing');
    add(3, 'committed', NOW - 3 * HOUR, NOW - 2 * HOUR, 'shipping');
    add(5, 'rolled_back', NOW - 3 * HOUR, NOW - 2 * HOUR, 'billing');
    add(4, 'discarded', NOW - 3 * HOUR, NOW - 2 * HOUR, 'billing');
    expect(await pruner(4).prune()).toEqual({ committed: 14, rolled_back: 5, discarded: 4 });
    // committed/billing 4 4 3, committed/shipping 3, rolled_back/billing 4 1, discarded/billing 4 0.
    expect(chunks).toEqual([4, 4, 3, 3, 4, 1, 4, 0]);
    expect(remaining()).toEqual([]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^Deleted 4 discarded half message record\(s\) of producer group "billing"/);
  });

  it('never deletes unresolved records, however old, nor records resolved within the retention', async () => {
    const unresolved = add(5, 'unresolved', NOW - 100 * HOUR, null);
    const young = add(3, 'committed', NOW - 2 * HOUR, NOW - HOUR / 2);
    const youngDiscarded = add(2, 'discarded', NOW - 2 * HOUR, NOW - HOUR + 1);
    add(2, 'rolled_back', NOW - 2 * HOUR, NOW - HOUR - 1);
    expect(await pruner(10).prune()).toEqual({ committed: 0, rolled_back: 2, discarded: 0 });
    expect(remaining()).toEqual([...unresolved, ...young, ...youngDiscarded].sort());
    expect(warnings).toEqual([]);
  });

  it('walks past young records sent long ago without deleting them or looping', async () => {
    // Old sends resolved recently (e.g. discarded, then decided by an operator) interleaved with old resolutions.
    const kept: string[] = [];
    for (let i = 0; i < 6; i++) {
      add(3, 'committed', NOW - 10 * HOUR + i * 10, NOW - 2 * HOUR);
      kept.push(...add(1, 'committed', NOW - 10 * HOUR + i * 10 + 5, NOW - 60_000));
    }
    expect(await pruner(2).prune()).toEqual({ committed: 18, rolled_back: 0, discarded: 0 });
    expect(chunks).toEqual([2, 2, 2, 2, 2, 2, 2, 2, 2, 0]);
    expect(remaining()).toEqual(kept);
  });

  it('keeps everything with a null retention', async () => {
    add(3, 'committed', 0, 1);
    expect(await pruner(2, null).prune()).toEqual({ committed: 0, rolled_back: 0, discarded: 0 });
    expect(chunks).toEqual([]);
    expect(remaining()).toHaveLength(3);
  });

  it('ends after the chunk in progress once stopped', async () => {
    add(10, 'committed', NOW - 3 * HOUR, NOW - 2 * HOUR);
    const pass = pruner(3);
    const original = db.transaction.bind(db);
    let commits = 0;
    db.transaction = ((fn: () => unknown) => {
      commits++;
      if (commits === 2) stopped = true;
      return original(fn);
    }) as typeof db.transaction;
    expect(await pass.prune()).toEqual({ committed: 6, rolled_back: 0, discarded: 0 });
    expect(remaining()).toHaveLength(4);
  });
});
