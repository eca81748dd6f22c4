import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import type { DedupCounters, DedupOutcome, DedupStore } from '../dedup/dedup-store.interface';
import { DedupBusyError } from '../errors/dedup-busy.error';
import { expectEqual, expectRejection, expectThat } from './contract-assertions';
import { registerContractSuite, type ContractSuiteOptions } from './contract-suite-runner';

/** One rule of the DedupStore contract; `run` rejects when the store breaks it. */
export interface DedupContractCase {
  readonly name: string;
  run(store: DedupStore): Promise<void>;
}

export interface DedupStoreUnderTest {
  store: DedupStore;
  /** Runs after `store.close()`: drop what the factory created (keys, rows, connections it passed in). */
  cleanup?: () => Promise<void>;
}

/**
 * Registers the DedupStore contract: a `describe` with one test per case, each with a fresh store from `factory`.
 * Cases use their own random group names, so stores backed by shared Redis or database state may reuse it between
 * cases. Runs under Jest and Vitest alike; see `ContractSuiteOptions` for runners without globals.
 *
 *     dedupStoreContract('RedisDedupStore', async () => ({ store: new RedisDedupStore({ url }) }), { describe, it });
 */
export function dedupStoreContract(
  name: string,
  factory: () => Promise<DedupStoreUnderTest>,
  options: ContractSuiteOptions = {},
): void {
  registerContractSuite(
    'dedupStoreContract',
    name,
    dedupContractCases,
    async (contractCase) => {
      const { store, cleanup } = await factory();
      try {
        await contractCase.run(store);
      } finally {
        await store.close();
        await cleanup?.();
      }
    },
    options,
  );
}

/** How long a `redis` or `memory` store may take to refuse a concurrent delivery. */
const BUSY_WITHIN_MS = 2_000;
/** How long a `db` store's concurrent delivery is watched for an early answer while the first run is open. */
const DB_EARLY_WINDOW_MS = 300;
/** Bound on any single wait inside a case, so that a broken store fails the case instead of hanging it. */
const WAIT_MS = 15_000;

type Work = (manager: EntityManager | undefined) => Promise<void>;

type Settled<T> = { status: 'fulfilled'; value: T } | { status: 'rejected'; reason: unknown };

export const dedupContractCases: readonly DedupContractCase[] = [
  {
    name: 'runs work once and resolves processed on the first delivery',
    async run(store) {
      const group = uniqueGroup();
      const before = store.counters;
      let runs = 0;
      expectEqual(await store.execute(group, 'order-1', async () => void runs++), 'processed', 'the first delivery');
      expectEqual(runs, 1, 'runs of the work');
      expectEqual(delta(before, store.counters), { processed: 1, duplicates: 0, busy: 0 }, 'counters');
    },
  },
  {
    name: 'hands work the transaction manager with the db kind, and undefined with the others',
    async run(store) {
      // A box, not a variable: the compiler does not see assignments made inside the callback.
      const seen: { called: boolean; manager?: EntityManager; inTransaction?: boolean } = { called: false };
      await store.execute(uniqueGroup(), 'order-1', async (manager) => {
        seen.called = true;
        seen.manager = manager;
        seen.inTransaction = manager?.queryRunner?.isTransactionActive;
      });
      expectThat(seen.called, 'the work must run on a first delivery');
      if (store.kind === 'db') {
        expectThat(seen.manager !== undefined, 'a db store must hand the work its EntityManager');
        expectEqual(seen.inTransaction, true, "the manager's transaction is active");
      } else {
        expectEqual(seen.manager, undefined, `the manager a ${store.kind} store hands the work`);
      }
    },
  },
  {
    name: 'resolves duplicate without running work once a run succeeded',
    async run(store) {
      const group = uniqueGroup();
      let runs = 0;
      const work: Work = async () => void runs++;
      expectEqual(await store.execute(group, 'order-1', work), 'processed', 'the first delivery');
      const before = store.counters;
      expectEqual(await store.execute(group, 'order-1', work), 'duplicate', 'the second delivery');
      expectEqual(await store.execute(group, 'order-1', work), 'duplicate', 'the third delivery');
      expectEqual(runs, 1, 'runs of the work');
      expectEqual(delta(before, store.counters), { processed: 0, duplicates: 2, busy: 0 }, 'counters');
    },
  },
  {
    name: 'releases the key and rethrows when work fails, so that a retry runs it again',
    async run(store) {
      const group = uniqueGroup();
      const before = store.counters;
      const failure = new Error('payment gateway said no');
      let runs = 0;
      await expectRejection(
        store.execute(group, 'order-1', async () => {
          runs++;
          throw failure;
        }),
        "a delivery whose work fails must reject with the work's own error",
        (reason) => reason === failure,
      );
      expectEqual(await store.execute(group, 'order-1', async () => void runs++), 'processed', 'the retry');
      expectEqual(runs, 2, 'runs of the work after the retry');
      expectEqual(await store.execute(group, 'order-1', async () => void runs++), 'duplicate', 'the delivery after it');
      expectEqual(runs, 2, 'runs of the work after a duplicate');
      expectEqual(delta(before, store.counters), { processed: 1, duplicates: 1, busy: 0 }, 'counters');
    },
  },
  {
    name: 'never runs a concurrent delivery of the same key alongside the first, nor calls it a duplicate early',
    async run(store) {
      const group = uniqueGroup();
      const before = store.counters;
      let runs = 0;
      const { first, second, early } = await concurrentDeliveries(store, group, 'order-1', {
        firstThen: async () => void runs++,
        secondWork: async () => void runs++,
      });
      expectEqual(
        await within(first, 'the first delivery'),
        { status: 'fulfilled', value: 'processed' },
        'the first delivery',
      );
      if (early === 'pending') {
        expectEqual(
          await within(second, 'the waiting delivery'),
          { status: 'fulfilled', value: 'duplicate' },
          'the delivery that waited for the first',
        );
      }
      expectEqual(runs, 1, 'runs of the work');
      expectEqual(await store.execute(group, 'order-1', async () => void runs++), 'duplicate', 'a later delivery');
      expectEqual(runs, 1, 'runs of the work after a later delivery');
      const change = delta(before, store.counters);
      expectEqual(change.processed, 1, 'processed counter');
      expectEqual(change.busy, early === 'pending' ? 0 : 1, 'busy counter');
    },
  },
  {
    name: 'lets a concurrent delivery of a run that fails be retried (busy) or run itself after the failure (db)',
    async run(store) {
      const group = uniqueGroup();
      let successes = 0;
      let secondRan = false;
      const { first, second, early } = await concurrentDeliveries(store, group, 'order-1', {
        firstThen: async () => {
          throw new Error('first delivery failed');
        },
        secondWork: async () => {
          secondRan = true;
          successes++;
        },
        // A refused delivery never runs its work.
        whileHeld: (answer) => {
          if (answer !== 'pending') expectThat(!secondRan, 'a refused concurrent delivery must not run its work');
        },
      });
      expectEqual((await within(first, 'the first delivery')).status, 'rejected', 'the failing first delivery');
      if (early === 'pending') {
        expectEqual(
          await within(second, 'the waiting delivery'),
          { status: 'fulfilled', value: 'processed' },
          'the delivery that waited for the failed first',
        );
      } else {
        expectEqual(
          await store.execute(group, 'order-1', async () => void successes++),
          'processed',
          'the retry of the refused delivery',
        );
      }
      expectEqual(successes, 1, 'successful runs of the work');
      expectEqual(await store.execute(group, 'order-1', async () => void successes++), 'duplicate', 'a later delivery');
      expectEqual(successes, 1, 'successful runs after a later delivery');
    },
  },
  {
    name: 'keeps groups apart, even when group names contain the separator',
    async run(store) {
      const billing = uniqueGroup();
      const shipping = uniqueGroup();
      const runs: string[] = [];
      const work =
        (label: string): Work =>
        async () =>
          void runs.push(label);
      expectEqual(await store.execute(billing, 'order-1', work('billing')), 'processed', 'billing, first');
      expectEqual(await store.execute(shipping, 'order-1', work('shipping')), 'processed', 'shipping, first');
      expectEqual(await store.execute(billing, 'order-1', work('billing again')), 'duplicate', 'billing, again');
      expectEqual(await store.execute(shipping, 'order-1', work('shipping again')), 'duplicate', 'shipping, again');

      // A failure in one group must not release or block the same key of another.
      const audit = uniqueGroup();
      await expectRejection(
        store.execute(audit, 'order-1', async () => {
          throw new Error('audit failed');
        }),
        'a delivery whose work fails',
        (reason) => reason instanceof Error && reason.message.includes('audit failed'),
      );
      expectEqual(
        await store.execute(billing, 'order-1', work('billing after audit')),
        'duplicate',
        "billing, after another group's failure",
      );

      // "<group>:<key>" joined naively would make these two pairs one.
      const base = uniqueGroup();
      expectEqual(
        await store.execute(`${base}:tenant`, 'order-1', work('group with colon')),
        'processed',
        'a group name with ":"',
      );
      expectEqual(
        await store.execute(base, 'tenant:order-1', work('key with colon')),
        'processed',
        'a key with ":" in a group that is the prefix of the previous one',
      );
      expectEqual(runs, ['billing', 'shipping', 'group with colon', 'key with colon'], 'works that ran');
    },
  },
  {
    name: 'compares business keys exactly, whatever characters and length they have',
    async run(store) {
      const group = uniqueGroup();
      const keys = [
        'order:42',
        'tenant/7/order:42',
        'tenant/7/order:42/',
        'заказ №42',
        '注文:42',
        'launch 🚀/1',
        'Order-1',
        'order-1',
        'k',
        'k ',
        ' k',
        'tab\tkey',
        'line\nbreak',
        'nul\u0000byte',
        `quote'"\\`,
        'a%3Ab',
        `sha256:${'e'.repeat(64)}`,
        'y'.repeat(191),
        'y'.repeat(192),
        `${'x'.repeat(511)}1`,
        `${'x'.repeat(511)}2`,
      ];
      const runs = new Map<string, number>();
      for (const key of keys) {
        const outcome = await store.execute(group, key, async () => void runs.set(key, (runs.get(key) ?? 0) + 1));
        expectEqual(outcome, 'processed', `first delivery of ${JSON.stringify(key)}`);
      }
      for (const key of keys) {
        const outcome = await store.execute(group, key, async () => void runs.set(key, (runs.get(key) ?? 0) + 1));
        expectEqual(outcome, 'duplicate', `second delivery of ${JSON.stringify(key)}`);
      }
      expectEqual(
        [...runs.values()],
        keys.map(() => 1),
        'runs of the work per key',
      );
    },
  },
];

/**
 * Starts a delivery whose work waits until `finish()` and then runs `then`. Callers call `finish()` in a `finally`,
 * so a failed expectation never leaves the run (and its transaction) open.
 */
function startHeldRun(
  store: DedupStore,
  group: string,
  key: string,
  then: () => Promise<void>,
): { started: Promise<void>; finish: () => void; settled: Promise<Settled<DedupOutcome>> } {
  const started = deferred();
  const release = deferred();
  const settled = settle(
    store.execute(group, key, async () => {
      started.resolve();
      await release.promise;
      await then();
    }),
  );
  return { started: started.promise, finish: release.resolve, settled };
}

/**
 * Holds a first delivery of `key` open inside its work, starts a second, concurrent delivery of the same key, and
 * watches it for an early answer: a store other than `db` must refuse it at once as busy, while a `db` store may keep
 * it waiting (`early` is then 'pending'). `whileHeld` checks more before the first delivery is let go to run
 * `firstThen`.
 */
async function concurrentDeliveries(
  store: DedupStore,
  group: string,
  key: string,
  runs: {
    firstThen: () => Promise<void>;
    secondWork: Work;
    whileHeld?: (early: Settled<DedupOutcome> | 'pending') => void;
  },
): Promise<{
  first: Promise<Settled<DedupOutcome>>;
  second: Promise<Settled<DedupOutcome>>;
  early: Settled<DedupOutcome> | 'pending';
}> {
  const first = startHeldRun(store, group, key, runs.firstThen);
  try {
    await within(first.started, 'the first delivery to start its work');
    const second = settle(store.execute(group, key, runs.secondWork));
    const early = await settleWithin(second, earlyWindowOf(store));
    if (store.kind !== 'db') {
      expectThat(early !== 'pending', `a concurrent delivery must be refused at once, not after ${BUSY_WITHIN_MS} ms`);
    }
    if (early !== 'pending') expectBusy(early);
    runs.whileHeld?.(early);
    return { first: first.settled, second, early };
  } finally {
    first.finish();
  }
}

function earlyWindowOf(store: DedupStore): number {
  return store.kind === 'db' ? DB_EARLY_WINDOW_MS : BUSY_WITHIN_MS;
}

function uniqueGroup(): string {
  return `contract-${randomUUID()}`;
}

function delta(before: DedupCounters, after: DedupCounters): DedupCounters {
  return {
    processed: after.processed - before.processed,
    duplicates: after.duplicates - before.duplicates,
    busy: after.busy - before.busy,
  };
}

function expectBusy(outcome: Settled<unknown>): void {
  expectEqual(outcome.status, 'rejected', 'a concurrent delivery settled early, so it must be a busy rejection');
  if (outcome.status === 'rejected') {
    expectThat(
      outcome.reason instanceof DedupBusyError,
      `a concurrent delivery must be refused with a DedupBusyError, not ${String(outcome.reason)}`,
    );
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

/** Never rejects, so a promise that fails before it is awaited is not reported as unhandled. */
function settle<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ status: 'fulfilled', value }),
    (reason: unknown) => ({ status: 'rejected', reason }),
  );
}

async function settleWithin<T>(settled: Promise<Settled<T>>, ms: number): Promise<Settled<T> | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => resolve('pending'), ms);
  });
  try {
    return await Promise.race([settled, pending]);
  } finally {
    clearTimeout(timer);
  }
}

async function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${WAIT_MS} ms waiting for ${what}.`)), WAIT_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
