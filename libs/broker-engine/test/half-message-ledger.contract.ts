import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type {
  HalfMessage,
  HalfMessageLedger,
  HalfMessageState,
  HalfTransition,
  NewHalfRecord,
  PrunedHalf,
  RefusedTransition,
} from '@reliable-mq/engine';

/*
 * The HalfMessageLedger contract, for both ledgers (the engine's SQLite one, the framework's database one) and for
 * deliberately broken ones, which must fail it. Plain node:assert, so that a case is a function that throws.
 */

export interface LedgerUnderTest {
  ledger: HalfMessageLedger;
  /** Message ids the ledger made deliverable (engine: stored for delivery; framework: outbox rows), in order. */
  delivered(): Promise<string[]>;
  /** Another ledger over the same storage, as a second process has; absent where one process owns the storage. */
  second?: HalfMessageLedger;
  cleanup(): Promise<void>;
}

export interface LedgerContractCase {
  readonly name: string;
  run(subject: LedgerUnderTest): Promise<void>;
}

/** Registers one test per case, each with a fresh ledger from `factory`. */
export function halfMessageLedgerContract(
  name: string,
  factory: () => Promise<LedgerUnderTest>,
  runner: { describe(name: string, body: () => void): void; it(name: string, test: () => Promise<void>): void },
): void {
  runner.describe(`HalfMessageLedger contract: ${name}`, () => {
    for (const contractCase of halfMessageLedgerContractCases) {
      runner.it(contractCase.name, async () => {
        const subject = await factory();
        try {
          await contractCase.run(subject);
        } finally {
          await subject.cleanup();
        }
      });
    }
  });
}

const T0 = 1_800_000_000_000;
const RESOLVABLE: HalfMessageState[] = ['unresolved', 'discarded'];
let sequence = 0;

function record(overrides: Partial<NewHalfRecord> = {}): NewHalfRecord {
  sequence++;
  return {
    txId: randomUUID(),
    messageId: randomUUID(),
    producerGroup: 'payment-service',
    topic: 'payment.confirmed',
    key: `order-${sequence}`,
    tags: ['card', 'eu'],
    headers: { traceparent: `00-${sequence}`, 'x-tenant': 'acme' },
    body: Buffer.from(JSON.stringify({ orderId: `o-${sequence}`, amount: 25 })),
    sentAt: T0 + sequence,
    deliverAt: null,
    ttlMs: null,
    nextCheckAt: T0 + 6_000,
    ...overrides,
  };
}

const commit = (txId: string, from = RESOLVABLE): HalfTransition => ({
  txId,
  from,
  to: 'committed',
  by: 'producer',
  reason: null,
});
const rollback = (txId: string, from = RESOLVABLE): HalfTransition => ({
  txId,
  from,
  to: 'rolled_back',
  by: 'producer',
  reason: 'payment declined',
});
const discard = (txId: string): HalfTransition => ({
  txId,
  from: ['unresolved'],
  to: 'discarded',
  by: null,
  reason: 'No answer after 3 checks',
});

/** A refusal callback that records what it was told and never throws. */
function recordRefusals(): { refused: RefusedTransition; seen: Array<[string, HalfMessageState | undefined]> } {
  const seen: Array<[string, HalfMessageState | undefined]> = [];
  return { seen, refused: (change, found) => void seen.push([change.txId, found?.state]) };
}
const keep: RefusedTransition = () => undefined;

async function insert(ledger: HalfMessageLedger, overrides: Partial<NewHalfRecord> = {}): Promise<HalfMessage> {
  const { half, duplicate } = await ledger.insert(record(overrides));
  assert.equal(duplicate, false, 'a new message id is stored');
  return half;
}

async function stateOf(ledger: HalfMessageLedger, txId: string): Promise<HalfMessage> {
  const half = await ledger.get(txId);
  assert.ok(half, `half message ${txId} is still there`);
  return half;
}

async function pruneAll(ledger: HalfMessageLedger, cutoff: number, limit: number): Promise<PrunedHalf[]> {
  const deleted: PrunedHalf[] = [];
  let cursor = null;
  for (let chunk = 0; chunk < 100; chunk++) {
    const pruned = await ledger.pruneChunk(cutoff, limit, cursor);
    assert.ok(pruned.deleted.length <= limit, `a chunk deletes at most ${limit} records`);
    deleted.push(...pruned.deleted);
    cursor = pruned.next;
    if (cursor === null) return deleted;
  }
  assert.fail('pruning never reached the end');
}

const byTxId = (a: { txId: string }, b: { txId: string }): number => a.txId.localeCompare(b.txId);

export const STORE = 'stores a half message unresolved and invisible';
export const DUPLICATE = 'answers the first record for a message id it already holds';
export const COMMIT_ONCE = 'commits once';
export const ROLLBACK = 'rolls back without delivering';
export const ALL_OR_NONE = 'applies a call all or none';
export const RACE = 'changes a record once when changes race';
export const CLAIM = 'claims due checks only';
export const CLAIM_RACE = 'counts each check once when claims race';
export const BUSY = 'moves a busy check on without counting it';
export const NEXT_CHECK = 'answers the earliest check due among unresolved records';
export const WARNED = 'remembers the missing-checker warning';
export const LIST = 'lists by state, producer group, topic and id';
export const PRUNE = 'prunes resolved records older than the cutoff only';

export const halfMessageLedgerContractCases: readonly LedgerContractCase[] = [
  {
    name: `${STORE}, as sent, and answers it by transaction id`,
    async run({ ledger, delivered }) {
      const sent = record({ key: null, tags: [], deliverAt: T0 + 60_000 });
      const { half, duplicate } = await ledger.insert(sent);
      assert.equal(duplicate, false);
      const expected = {
        txId: sent.txId,
        messageId: sent.messageId,
        producerGroup: sent.producerGroup,
        topic: sent.topic,
        key: null,
        tags: [],
        headers: sent.headers,
        sentAt: sent.sentAt,
        state: 'unresolved',
        checkCount: 0,
        nextCheckAt: sent.nextCheckAt,
        reason: null,
        resolvedAt: null,
        resolvedBy: null,
      };
      for (const read of [half, await stateOf(ledger, sent.txId)]) {
        const { body, ...fields } = read;
        assert.deepEqual(fields, expected);
        assert.equal(Buffer.compare(body, sent.body), 0, 'the body is kept byte for byte');
      }
      const tagged = await insert(ledger);
      assert.deepEqual((await stateOf(ledger, tagged.txId)).tags, ['card', 'eu']);
      assert.equal(await ledger.get(randomUUID()), undefined, 'an unknown transaction id is undefined');
      assert.deepEqual(await delivered(), [], 'nothing is deliverable before a commit');
    },
  },
  {
    name: `${DUPLICATE}, storing nothing more`,
    async run({ ledger }) {
      const first = await insert(ledger);
      const again = await ledger.insert(record({ messageId: first.messageId, topic: 'other.topic' }));
      assert.equal(again.duplicate, true);
      assert.equal(again.half.txId, first.txId);
      assert.equal(again.half.topic, first.topic);
      const page = await ledger.list({ state: 'any', id: first.messageId, limit: 10, offset: 0 });
      assert.equal(page.total, 1, 'one record per message id');
    },
  },
  {
    name: `${COMMIT_ONCE}: the message becomes deliverable with the change, and a second change finds it committed`,
    async run({ ledger, delivered }) {
      const half = await insert(ledger);
      const [applied] = await ledger.transition([commit(half.txId)], T0 + 100, keep);
      assert.equal(applied?.changed, true);
      assert.equal(applied?.half?.state, 'committed');
      assert.deepEqual(await delivered(), [half.messageId]);
      const { refused, seen } = recordRefusals();
      const again = await ledger.transition([commit(half.txId), rollback(half.txId)], T0 + 200, refused);
      assert.deepEqual(
        again.map((change) => change.changed),
        [false, false],
      );
      assert.deepEqual(seen, [
        [half.txId, 'committed'],
        [half.txId, 'committed'],
      ]);
      assert.deepEqual(await delivered(), [half.messageId], 'delivered once');
      const stored = await stateOf(ledger, half.txId);
      assert.equal(stored.resolvedBy, 'producer');
      assert.equal(stored.resolvedAt, T0 + 100);
      const missing = recordRefusals();
      const unknown = randomUUID();
      await ledger.transition([commit(unknown)], T0, missing.refused);
      assert.deepEqual(missing.seen, [[unknown, undefined]], 'an unknown id is refused with no record');
    },
  },
  {
    name: `${ROLLBACK}, keeping the record with its reason for audit`,
    async run({ ledger, delivered }) {
      const half = await insert(ledger);
      await ledger.transition([rollback(half.txId)], T0 + 100, keep);
      const stored = await stateOf(ledger, half.txId);
      assert.equal(stored.state, 'rolled_back');
      assert.equal(stored.reason, 'payment declined');
      assert.deepEqual(await delivered(), []);
    },
  },
  {
    name: `${ALL_OR_NONE}: a refusal that throws undoes the changes made before it`,
    async run({ ledger, delivered }) {
      const a = await insert(ledger);
      const b = await insert(ledger);
      await ledger.transition([discard(a.txId)], T0 + 100, keep);
      const operator = (txId: string): HalfTransition => ({ ...commit(txId, ['discarded']), by: 'operator' });
      const refusal = new Error('b is not discarded');
      await assert.rejects(
        ledger.transition([operator(a.txId), operator(b.txId)], T0 + 200, () => {
          throw refusal;
        }),
        (error: unknown) => error === refusal,
      );
      assert.equal((await stateOf(ledger, a.txId)).state, 'discarded', 'the first change was undone');
      assert.equal((await stateOf(ledger, b.txId)).state, 'unresolved');
      assert.deepEqual(await delivered(), [], 'nothing was delivered by the undone commit');
      await ledger.transition([operator(a.txId)], T0 + 300, keep);
      assert.deepEqual(await delivered(), [a.messageId]);
    },
  },
  {
    name: `${RACE}: one commit or rollback wins, and delivery matches it`,
    async run({ ledger, second, delivered }) {
      const half = await insert(ledger);
      const others = second ?? ledger;
      const results = await Promise.all(
        [commit, rollback, commit, rollback, commit, rollback].map((change, index) =>
          (index % 2 === 0 ? ledger : others).transition([change(half.txId, ['unresolved'])], T0 + index, keep),
        ),
      );
      assert.equal(results.flat().filter((result) => result.changed).length, 1, 'exactly one change applied');
      const final = await stateOf(ledger, half.txId);
      assert.deepEqual(await delivered(), final.state === 'committed' ? [half.messageId] : []);
    },
  },
  {
    name: `${CLAIM}: earliest first, each counted and moved to its next check; not-due and resolved ones stay`,
    async run({ ledger }) {
      const late = await insert(ledger, { nextCheckAt: T0 + 1_000_000 });
      const second = await insert(ledger, { nextCheckAt: T0 + 20 });
      const first = await insert(ledger, { nextCheckAt: T0 + 10 });
      const resolved = await insert(ledger, { nextCheckAt: T0 + 5 });
      await ledger.transition([commit(resolved.txId)], T0, keep);
      const { due, claimed } = await ledger.claimDue(T0 + 100, T0 + 500, 10, new Set());
      assert.equal(due, 2);
      assert.deepEqual(
        claimed.map(({ half }) => [half.txId, half.checkCount, half.nextCheckAt]),
        [
          [first.txId, 1, T0 + 500],
          [second.txId, 1, T0 + 500],
        ],
      );
      assert.equal((await stateOf(ledger, first.txId)).checkCount, 1, 'the claim is stored');
      assert.equal((await stateOf(ledger, late.txId)).checkCount, 0);
      assert.equal((await ledger.claimDue(T0 + 100, T0 + 500, 10, new Set())).due, 0, 'a claimed check is not due');
      const limited = await ledger.claimDue(T0 + 600, T0 + 900, 1, new Set());
      assert.equal(limited.due, 1, 'at most `limit` are looked at');
      assert.equal(limited.claimed.length, 1);
    },
  },
  {
    name: `${CLAIM_RACE}, from one caller or several`,
    async run({ ledger, second }) {
      const half = await insert(ledger, { nextCheckAt: T0 });
      const claimants = [ledger, ledger, second ?? ledger, second ?? ledger];
      const claims = await Promise.all(
        claimants.map((claimant) => claimant.claimDue(T0 + 10, T0 + 1_000, 10, new Set())),
      );
      assert.equal(claims.flatMap((claim) => claim.claimed).length, 1, 'one claimant took the check');
      assert.equal((await stateOf(ledger, half.txId)).checkCount, 1);
    },
  },
  {
    name: `${BUSY}: its checker is still being asked`,
    async run({ ledger }) {
      const half = await insert(ledger, { nextCheckAt: T0 });
      const { due, claimed } = await ledger.claimDue(T0 + 10, T0 + 1_000, 10, new Set([half.txId]));
      assert.equal(due, 1);
      assert.deepEqual(claimed, []);
      const stored = await stateOf(ledger, half.txId);
      assert.equal(stored.checkCount, 0, 'no check counted');
      assert.equal(stored.nextCheckAt, T0 + 1_000, 'the next check moved on');
    },
  },
  {
    name: `${NEXT_CHECK}, or null`,
    async run({ ledger }) {
      assert.equal(await ledger.nextCheckAt(), null);
      const early = await insert(ledger, { nextCheckAt: T0 + 10 });
      await insert(ledger, { nextCheckAt: T0 + 30 });
      assert.equal(await ledger.nextCheckAt(), T0 + 10);
      await ledger.transition([commit(early.txId)], T0, keep);
      assert.equal(await ledger.nextCheckAt(), T0 + 30, 'a resolved record is never due');
    },
  },
  {
    name: `${WARNED} for later claims of the same half message`,
    async run({ ledger }) {
      const half = await insert(ledger, { nextCheckAt: T0 });
      const other = await insert(ledger, { nextCheckAt: T0 });
      const first = await ledger.claimDue(T0, T0, 10, new Set());
      assert.deepEqual(
        first.claimed.map((claim) => claim.warned),
        [false, false],
      );
      await ledger.markWarned(half.txId);
      const later = await ledger.claimDue(T0, T0 + 10, 10, new Set());
      const warned = Object.fromEntries(later.claimed.map((claim) => [claim.half.txId, claim.warned]));
      assert.deepEqual(warned, { [half.txId]: true, [other.txId]: false });
    },
  },
  {
    name: `${LIST} (transaction or message), oldest sent first, in pages`,
    async run({ ledger }) {
      const halves = [
        await insert(ledger, { sentAt: T0 + 5 }),
        await insert(ledger, { sentAt: T0 + 1, producerGroup: 'billing' }),
        await insert(ledger, { sentAt: T0 + 3, topic: 'refund.issued' }),
        await insert(ledger, { sentAt: T0 + 2 }),
        await insert(ledger, { sentAt: T0 + 4 }),
      ];
      await ledger.transition([discard(halves[4]!.txId)], T0 + 10, keep);
      const ids = (page: { items: HalfMessage[] }): string[] => page.items.map((half) => half.txId);
      const query = { state: 'any' as const, limit: 2, offset: 0 };
      const pages = [0, 2, 4].map((offset) => ledger.list({ ...query, offset }));
      const all = await Promise.all(pages);
      assert.deepEqual(
        all.map((page) => page.total),
        [5, 5, 5],
      );
      const oldestFirst = [...halves].sort((a, b) => a.sentAt - b.sentAt).map((half) => half.txId);
      assert.deepEqual(all.flatMap(ids), oldestFirst);
      assert.deepEqual(ids(await ledger.list({ ...query, state: 'discarded', limit: 10 })), [halves[4]!.txId]);
      const unresolved = await ledger.list({ ...query, state: 'unresolved', limit: 10 });
      assert.equal(unresolved.total, 4, 'the discarded one is not unresolved');
      assert.deepEqual(ids(await ledger.list({ ...query, producerGroup: 'billing' })), [halves[1]!.txId]);
      assert.deepEqual(ids(await ledger.list({ ...query, topic: 'refund.issued' })), [halves[2]!.txId]);
      assert.deepEqual(ids(await ledger.list({ ...query, id: halves[3]!.txId })), [halves[3]!.txId]);
      assert.deepEqual(ids(await ledger.list({ ...query, id: halves[3]!.messageId })), [halves[3]!.txId]);
      const discarded = await stateOf(ledger, halves[4]!.txId);
      assert.equal(discarded.resolvedAt, T0 + 10);
      assert.equal(discarded.resolvedBy, null, 'nobody decided a discard');
      assert.equal(discarded.reason, 'No answer after 3 checks');
    },
  },
  {
    name: `${PRUNE}, never an unresolved one, chunk by chunk to the end`,
    async run({ ledger }) {
      const old = T0;
      const cutoff = T0 + 1_000;
      // Sent before they were resolved, as every record is.
      const committed = await insert(ledger, { producerGroup: 'billing', sentAt: old - 40 });
      const rolledBack = await insert(ledger, { sentAt: old - 30 });
      const discarded = await insert(ledger, { sentAt: old - 20 });
      const recent = await insert(ledger, { sentAt: old - 10 });
      const unresolved = await insert(ledger, { sentAt: old - 10_000 });
      await ledger.transition([commit(committed.txId), rollback(rolledBack.txId)], old, keep);
      await ledger.transition([discard(discarded.txId)], old, keep);
      await ledger.transition([commit(recent.txId)], cutoff + 1, keep);
      const deleted = await pruneAll(ledger, cutoff, 1);
      assert.deepEqual([...deleted].sort(byTxId), [
        ...[
          { txId: committed.txId, producerGroup: 'billing', state: 'committed' },
          { txId: rolledBack.txId, producerGroup: 'payment-service', state: 'rolled_back' },
          { txId: discarded.txId, producerGroup: 'payment-service', state: 'discarded' },
        ].sort(byTxId),
      ]);
      for (const gone of [committed, rolledBack, discarded]) assert.equal(await ledger.get(gone.txId), undefined);
      assert.equal((await stateOf(ledger, recent.txId)).state, 'committed');
      assert.equal((await stateOf(ledger, unresolved.txId)).state, 'unresolved');
      assert.deepEqual(await pruneAll(ledger, cutoff, 10), [], 'a second pass finds nothing');
    },
  },
];
