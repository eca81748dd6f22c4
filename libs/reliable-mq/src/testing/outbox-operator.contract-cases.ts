import { operatorRefusal } from '../outbox/outbox-problems';
import { expectEqual } from './contract-assertions';
import { idsOf, readRow, readRows, writeRows } from './outbox-contract-rows';
import { claimAt, LEASE_MS, T0, type OutboxContractCase } from './outbox-relay.contract-cases';

const MINUTE = 60_000;
/** Pending rows written before this are stuck. */
const STUCK_BEFORE = T0 - 5 * MINUTE;

/** The operator's side of the contract: what the console lists, and its requeue and discard. */
export const outboxOperatorContractCases: readonly OutboxContractCase[] = [
  {
    name: 'listProblems pages through stuck or dead rows only, filtered by topic and key, with their total',
    async run({ store, dataSource }) {
      const [stuckOld, stuckNewer, , deadA, deadB, , otherTopic] = await writeRows(dataSource, [
        { createdAt: T0 - 20 * MINUTE, key: 'k1', attempts: 3 },
        { createdAt: T0 - 10 * MINUTE, key: 'k2' },
        { createdAt: T0 },
        { createdAt: T0 - 30 * MINUTE, key: 'k1', status: 'dead', attempts: 20, lastError: 'refused' },
        { createdAt: T0 - 8 * MINUTE, status: 'dead', attempts: 20 },
        { createdAt: T0 - 40 * MINUTE, status: 'sent' },
        { createdAt: T0 - 7 * MINUTE, topic: 'other.topic', status: 'dead' },
      ]);
      const base = { stuckBefore: STUCK_BEFORE, limit: 10, offset: 0 };
      const ids = async (query: Parameters<typeof store.listProblems>[0]) => {
        const page = await store.listProblems(query);
        return { total: page.total, ids: idsOf(page.items) };
      };
      expectEqual(await ids({ ...base, problem: 'stuck' }), { total: 2, ids: [stuckOld, stuckNewer] }, 'stuck rows');
      expectEqual(await ids({ ...base, problem: 'dead' }), { total: 3, ids: [deadA, deadB, otherTopic] }, 'dead rows');
      expectEqual(
        await ids({ ...base, problem: 'dead', topic: 'contract.topic', limit: 1, offset: 1 }),
        { total: 2, ids: [deadB] },
        'the second page of one topic',
      );
      expectEqual(await ids({ ...base, problem: 'dead', key: 'k1' }), { total: 1, ids: [deadA] }, 'dead rows of a key');
      expectEqual(
        await ids({ ...base, problem: 'dead', order: { column: 'createdAt', dir: 'desc' } }),
        { total: 3, ids: [otherTopic, deadB, deadA] },
        'dead rows, newest first',
      );
      expectEqual(
        await ids({ ...base, problem: 'dead', order: { column: 'error', dir: 'desc' } }),
        { total: 3, ids: [deadA, otherTopic, deadB] },
        'dead rows by last error, descending (rows without one last, newest seq first)',
      );
    },
  },
  {
    name: 'countProblems counts pending, stuck and dead rows, in all and per topic',
    async run({ store, dataSource }) {
      const empty = await store.countProblems(STUCK_BEFORE);
      expectEqual(empty, { pending: 0, stuck: 0, dead: 0, oldestPendingAt: null, byTopic: [] }, 'an empty outbox');
      await writeRows(dataSource, [
        { createdAt: T0 - 20 * MINUTE },
        { createdAt: T0 - 10 * MINUTE, topic: 'b.topic' },
        { createdAt: T0, topic: 'c.topic' },
        { createdAt: T0 - 30 * MINUTE, status: 'dead' },
        { createdAt: T0 - 60 * MINUTE, status: 'sent' },
      ]);
      const counts = await store.countProblems(STUCK_BEFORE);
      expectEqual(
        [counts.pending, counts.stuck, counts.dead, counts.oldestPendingAt],
        [3, 2, 1, T0 - 20 * MINUTE],
        'pending, stuck, dead and the oldest pending row',
      );
      expectEqual(
        [...counts.byTopic].sort((a, b) => a.topic.localeCompare(b.topic)),
        [
          { topic: 'b.topic', stuck: 1, dead: 0 },
          { topic: 'contract.topic', stuck: 1, dead: 1 },
        ],
        'topics with problems',
      );
    },
  },
  {
    name: 'findByIds returns rows of any status in seq order and leaves unknown ids out',
    async run({ store, dataSource }) {
      const ids = await writeRows(dataSource, [
        { createdAt: T0, status: 'sent' },
        { createdAt: T0, status: 'dead' },
        { createdAt: T0 },
      ]);
      const found = await store.findByIds([ids[2]!, '00000000-0000-7000-8000-000000000000', ids[0]!, ids[1]!]);
      expectEqual(
        found.map((row) => [row.id, row.status]),
        [
          [ids[0], 'sent'],
          [ids[1], 'dead'],
          [ids[2], 'pending'],
        ],
        'the rows found',
      );
      expectEqual(await store.findByIds([]), [], 'no ids');
    },
  },
  {
    name: 'requeue makes rows pending, due now, with no failed attempt, and changes no sent or leased row',
    async run({ store, dataSource }) {
      const now = T0 + MINUTE;
      const [dead, backingOff, leased, lapsed, sent] = await writeRows(dataSource, [
        { createdAt: T0 - 30 * MINUTE, status: 'dead', attempts: 20, lastError: 'refused' },
        { createdAt: T0 - 30 * MINUTE, attempts: 3, nextAttemptAt: now + MINUTE },
        { createdAt: T0 - 30 * MINUTE, leaseOwner: 'relay-z', leaseUntil: now },
        { createdAt: T0 - 30 * MINUTE, attempts: 2, leaseOwner: 'relay-y', leaseUntil: now - 1 },
        { createdAt: T0 - 30 * MINUTE, status: 'sent' },
      ]);
      const allowed = (await readRows(dataSource)).filter((row) => operatorRefusal(row, now) === null);
      expectEqual(idsOf(allowed), [dead, backingOff, lapsed], 'the rows operatorRefusal allows');
      expectEqual(await store.requeue([dead!, backingOff!, leased!, lapsed!, sent!], now), 3, 'rows requeued');
      for (const id of [dead!, backingOff!, lapsed!]) {
        const row = await readRow(dataSource, id);
        expectEqual(
          [row.status, row.attempts, row.nextAttemptAt, row.leaseOwner, row.leaseUntil],
          ['pending', 0, now, null, null],
          `requeued row ${id}`,
        );
      }
      const kept = await readRow(dataSource, leased!);
      expectEqual([kept.leaseOwner, kept.leaseUntil], ['relay-z', now], 'the row leased to a live relay');
      expectEqual((await readRow(dataSource, sent!)).status, 'sent', 'the sent row');
    },
  },
  {
    name: 'requeue fences out a relay whose lease had lapsed: its later marks change nothing',
    async run({ store, dataSource }) {
      const [id] = await writeRows(dataSource, [{ createdAt: T0 - 30 * MINUTE, attempts: 2 }]);
      const [claimed] = await claimAt(store, 'relay-a', T0);
      const lapsed = T0 + LEASE_MS + 1;
      expectEqual(await store.requeue([id!], lapsed), 1, 'a requeue once the lease has lapsed');
      expectEqual(await store.markSent('relay-a', [claimed!.seq], lapsed + 1), 0, 'the old owner marking it sent');
      expectEqual(
        await store.markFailed({
          owner: 'relay-a',
          seqs: [claimed!.seq],
          previousAttempts: 2,
          nextAttemptAt: lapsed + MINUTE,
          dead: true,
          error: 'late',
        }),
        0,
        'the old owner marking it failed',
      );
      const row = await readRow(dataSource, id!);
      expectEqual([row.status, row.attempts, row.leaseOwner], ['pending', 0, null], 'the requeued row');
    },
  },
  {
    name: 'a requeued dead row goes out first, then the rows of its key it held back, in order',
    async run({ store, dataSource }) {
      const ids = await writeRows(dataSource, [
        { createdAt: T0, key: 'k', status: 'dead', attempts: 20 },
        { createdAt: T0, key: 'k' },
        { createdAt: T0, key: 'k' },
      ]);
      expectEqual(await claimAt(store, 'relay-a', T0), [], 'a claim while the head of the key is dead');
      expectEqual(await store.requeue([ids[0]!], T0 + 1), 1, 'the requeue');
      const claimed = await claimAt(store, 'relay-a', T0 + 1);
      expectEqual(idsOf(claimed), ids, 'the claim after the requeue');
    },
  },
  {
    name: 'discard deletes pending and dead rows no relay holds, and never a sent or leased row',
    async run({ store, dataSource }) {
      const now = T0 + MINUTE;
      const [dead, pending, leased, lapsed, sent] = await writeRows(dataSource, [
        { createdAt: T0, status: 'dead', attempts: 20 },
        { createdAt: T0 },
        { createdAt: T0, leaseOwner: 'relay-z', leaseUntil: now },
        { createdAt: T0, leaseOwner: 'relay-y', leaseUntil: now - 1 },
        { createdAt: T0, status: 'sent' },
      ]);
      expectEqual(await store.discard([dead!, pending!, leased!, lapsed!, sent!], now), 3, 'rows discarded');
      expectEqual(idsOf(await readRows(dataSource)), [leased, sent], 'the rows left');
    },
  },
];
