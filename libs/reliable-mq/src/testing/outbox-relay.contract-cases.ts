import type { DataSource } from 'typeorm';
import type { ClaimedRow, OutboxStore } from '../outbox/outbox-store.interface';
import { expectEqual, expectRejection, expectThat } from './contract-assertions';
import { idsOf, readRow, readRows, writeRows } from './outbox-contract-rows';

/** What a case gets: the store under test, on an outbox table emptied before the case. */
export interface OutboxContractFixture {
  store: OutboxStore;
  /** The store's DataSource; the case writes its starting rows and reads the outcome through it. */
  dataSource: DataSource;
}

/** One rule of the OutboxStore contract; `run` rejects when the store breaks it. */
export interface OutboxContractCase {
  readonly name: string;
  run(fixture: OutboxContractFixture): Promise<void>;
}

/** A fixed clock: every time in a case is an offset from it, so that no case depends on how fast the database is. */
export const T0 = 1_700_000_000_000;
export const LEASE_MS = 30_000;
const MINUTE = 60_000;

export function claimAt(
  store: OutboxStore,
  owner: string,
  now: number,
  limit = 100,
  maxBytes = 1 << 20,
): Promise<ClaimedRow[]> {
  return store.claim({ owner, now, leaseUntil: now + LEASE_MS, limit, maxBytes });
}

export const outboxRelayContractCases: readonly OutboxContractCase[] = [
  {
    name: 'claim leases due rows in seq order, and no other owner claims them until the lease ends',
    async run({ store, dataSource }) {
      const ids = await writeRows(dataSource, [{ createdAt: T0 }, { createdAt: T0 }, { createdAt: T0 }]);
      const first = await claimAt(store, 'relay-a', T0);
      expectEqual(idsOf(first), ids, 'the rows the first claim takes');
      expectEqual(
        first.map((row) => row.seq),
        [...first.map((row) => row.seq)].sort((a, b) => a - b),
        'seqs of a claim, in order',
      );
      const leased = await readRow(dataSource, ids[0]!);
      expectEqual([leased.leaseOwner, leased.leaseUntil], ['relay-a', T0 + LEASE_MS], 'the lease written');
      expectEqual(await claimAt(store, 'relay-b', T0 + LEASE_MS - 1), [], 'a claim by another owner during the lease');
      const after = await claimAt(store, 'relay-b', T0 + LEASE_MS + 1);
      expectEqual(idsOf(after), ids, 'a claim by another owner once the lease has ended');
    },
  },
  {
    name: 'claim takes at most `limit` rows and stops at the byte budget, but always takes the first row',
    async run({ store, dataSource }) {
      const payload = JSON.stringify({ text: 'x'.repeat(90) });
      const ids = await writeRows(
        dataSource,
        [0, 1, 2, 3].map(() => ({ createdAt: T0, payload })),
      );
      const limited = await claimAt(store, 'relay-a', T0, 1);
      expectEqual(idsOf(limited), [ids[0]], 'a claim with limit 1');
      const budgeted = await claimAt(store, 'relay-b', T0, 100, payload.length + 1);
      expectEqual(idsOf(budgeted), [ids[1], ids[2]], 'a claim whose budget the first row nearly fills');
      const tiny = await claimAt(store, 'relay-c', T0, 100, 1);
      expectEqual(idsOf(tiny), [ids[3]], 'a claim whose budget is smaller than one payload');
    },
  },
  {
    name: 'claim never takes a row of a key behind an unsent row that cannot be claimed now',
    async run({ store, dataSource }) {
      const [deadHead, behindDead, leasedHead, behindLeased, backingOff, behindBackoff, free, run1, run2, sent] =
        await writeRows(dataSource, [
          { createdAt: T0, key: 'dead-key', status: 'dead', attempts: 20 },
          { createdAt: T0, key: 'dead-key' },
          { createdAt: T0, key: 'leased-key', leaseOwner: 'relay-z', leaseUntil: T0 + MINUTE },
          { createdAt: T0, key: 'leased-key' },
          { createdAt: T0, key: 'backoff-key', attempts: 1, nextAttemptAt: T0 + MINUTE },
          { createdAt: T0, key: 'backoff-key' },
          { createdAt: T0 },
          { createdAt: T0, key: 'run-key' },
          { createdAt: T0, key: 'run-key' },
          { createdAt: T0, status: 'sent' },
        ]);
      const claimed = idsOf(await claimAt(store, 'relay-a', T0));
      expectEqual(claimed, [free, run1, run2], 'the rows claimed');
      for (const held of [deadHead, behindDead, leasedHead, behindLeased, backingOff, behindBackoff, sent]) {
        expectEqual((await readRow(dataSource, held!)).leaseOwner === 'relay-a', false, `row ${held} leased`);
      }
    },
  },
  {
    name: 'claim never takes a row whose transaction has not committed',
    async run({ store, dataSource }) {
      const rollback = new Error('rolled back by the contract case');
      let claimed: Promise<ClaimedRow[]> | undefined;
      await expectRejection(
        dataSource.transaction(async (manager) => {
          await writeRows(dataSource, [{ createdAt: T0 }], manager);
          claimed = claimAt(store, 'relay-a', T0);
          // Long enough for the claim to run, or to be seen waiting, while the row is still uncommitted.
          await new Promise((resolve) => setTimeout(resolve, 100));
          throw rollback;
        }),
        'the writing transaction',
        (reason) => reason === rollback,
      );
      expectEqual(await claimed, [], 'a claim made while the writing transaction was open');
      expectEqual(await readRows(dataSource), [], 'the rows after the rollback');
    },
  },
  {
    name: 'markSent and markFailed change only rows still leased to their owner',
    async run({ store, dataSource }) {
      const [id] = await writeRows(dataSource, [{ createdAt: T0 }]);
      const [mine] = await claimAt(store, 'relay-a', T0);
      expectThat(mine !== undefined, 'the first claim must take the row');
      const [taken] = await claimAt(store, 'relay-b', T0 + LEASE_MS + 1);
      expectThat(taken !== undefined, 'a claim after the lease must take the row');
      const failure = { seqs: [mine!.seq], previousAttempts: 0, nextAttemptAt: T0, dead: true, error: 'late' };
      expectEqual(await store.markSent('relay-a', [mine!.seq], T0 + LEASE_MS + 2), 0, 'sent mark by the old owner');
      expectEqual(await store.markFailed({ ...failure, owner: 'relay-a' }), 0, 'failure mark by the old owner');
      const row = await readRow(dataSource, id!);
      expectEqual([row.status, row.attempts, row.leaseOwner], ['pending', 0, 'relay-b'], 'the row after both');
      expectEqual(await store.markSent('relay-b', [taken!.seq], T0 + LEASE_MS + 3), 1, 'sent mark by the new owner');
      const sent = await readRow(dataSource, id!);
      expectEqual([sent.status, sent.sentAt], ['sent', T0 + LEASE_MS + 3], 'status and sent_at');
    },
  },
  {
    name: 'markFailed counts one attempt, backs off or buries the row, and refuses a mark for an older attempt',
    async run({ store, dataSource }) {
      const [retried, buried] = await writeRows(dataSource, [{ createdAt: T0 }, { createdAt: T0, attempts: 4 }]);
      const claimed = await claimAt(store, 'relay-a', T0);
      const seqOf = (id: string | undefined): number => claimed.find((row) => row.id === id)!.seq;
      const mark = { owner: 'relay-a', error: 'broker refused' };
      const dead = { ...mark, seqs: [seqOf(buried)], previousAttempts: 4, nextAttemptAt: T0, dead: true };
      expectEqual(await store.markFailed(dead), 1, 'the last failure mark');
      expectEqual((await readRow(dataSource, buried!)).status, 'dead', 'the row after its last attempt');
      const backoff = { ...mark, seqs: [seqOf(retried)], previousAttempts: 0, nextAttemptAt: T0 + MINUTE };
      expectEqual(await store.markFailed({ ...backoff, dead: false }), 1, 'a failure mark');
      const again = await readRow(dataSource, retried!);
      expectEqual(
        [again.status, again.attempts, again.nextAttemptAt, again.lastError, again.leaseOwner, again.leaseUntil],
        ['pending', 1, T0 + MINUTE, 'broker refused', null, null],
        'a row backing off',
      );
      expectEqual(await claimAt(store, 'relay-a', T0 + MINUTE - 1), [], 'a claim before the backoff ends');
      const [next] = await claimAt(store, 'relay-a', T0 + MINUTE);
      expectEqual(next?.id, retried, 'the row claimed again after its backoff');
      expectEqual(
        await store.markFailed({ ...backoff, seqs: [next!.seq], dead: false }),
        0,
        'a failure mark for an attempt that was counted already',
      );
      expectEqual((await readRow(dataSource, retried!)).attempts, 1, 'attempts after the refused mark');
    },
  },
  {
    name: 'release and releaseLeases give rows back at once, without counting an attempt',
    async run({ store, dataSource }) {
      const ids = await writeRows(dataSource, [
        { createdAt: T0, key: 'k' },
        { createdAt: T0, key: 'k' },
      ]);
      const claimed = await claimAt(store, 'relay-a', T0);
      expectEqual(await store.release('relay-b', [claimed[1]!.seq]), 0, "a release of another owner's row");
      expectEqual(await store.release('relay-a', [claimed[1]!.seq]), 1, 'a release of its own row');
      const released = await readRow(dataSource, ids[1]!);
      expectEqual([released.attempts, released.leaseOwner], [0, null], 'the released row');
      expectEqual(await claimAt(store, 'relay-b', T0), [], 'a claim while the first row of the key is leased');
      expectEqual(await store.releaseLeases('relay-a'), 1, 'leases cleared');
      const again = await claimAt(store, 'relay-b', T0);
      expectEqual(idsOf(again), ids, 'a claim once the leases are cleared');
    },
  },
  {
    name: 'deleteSentBefore deletes sent rows older than the cutoff only, at most `limit`',
    async run({ store, dataSource }) {
      const [, , young, pending, dead] = await writeRows(dataSource, [
        { createdAt: T0, status: 'sent', sentAt: T0 },
        { createdAt: T0, status: 'sent', sentAt: T0 + 1 },
        { createdAt: T0, status: 'sent', sentAt: T0 + MINUTE },
        { createdAt: T0 - MINUTE },
        { createdAt: T0 - MINUTE, status: 'dead' },
      ]);
      expectEqual(await store.deleteSentBefore(T0 + MINUTE, 1), 1, 'rows deleted with limit 1');
      expectEqual(await store.deleteSentBefore(T0 + MINUTE, 10), 1, 'rows deleted next');
      expectEqual(idsOf(await readRows(dataSource)), [young, pending, dead], 'the rows left');
    },
  },
  {
    name: 'countPending and oldestPendingCreatedAt read pending rows only',
    async run({ store, dataSource }) {
      expectEqual(await store.oldestPendingCreatedAt(), null, 'the oldest pending row of an empty outbox');
      await writeRows(dataSource, [
        { createdAt: T0 - 2 * MINUTE, status: 'sent' },
        { createdAt: T0 - 2 * MINUTE, status: 'dead' },
        { createdAt: T0 - MINUTE },
        { createdAt: T0 },
      ]);
      expectEqual(await store.countPending(), 2, 'pending rows');
      expectEqual(await store.oldestPendingCreatedAt(), T0 - MINUTE, 'the oldest pending row');
    },
  },
];
