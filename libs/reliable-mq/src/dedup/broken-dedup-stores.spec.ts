import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, type EntityManager } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateInboxSqlite1700000000002 } from '../migrations/sqlite/1700000000002-create-inbox';
import { MARIADB_URL, describeWithService, uniqueName } from '../../../../test/support/services';
import { contractCaseNamed } from '../../test/contract-case';
import { DedupBusyError } from '../errors/dedup-busy.error';
import { type DedupContractCase, dedupContractCases } from '../testing/dedup-store.contract';
import { DbDedupStore } from './db-dedup.store';
import { DedupCounterSet } from './dedup-counter-set';
import type { DedupCounters, DedupOutcome, DedupStore } from './dedup-store.interface';
import { MemoryDedupStore } from './memory-dedup.store';

type Work = (manager: EntityManager | undefined) => Promise<void>;
type State = 'processing' | 'done';

/**
 * A configurable in-memory store: each flag breaks one rule of the contract, and with no flag set it keeps them
 * all (checked below, so that a failing case is the flag's doing and not the harness's).
 */
class FlawedStore implements DedupStore {
  readonly kind = 'memory' as const;
  private readonly states = new Map<string, State>();
  private readonly totals = new DedupCounterSet();

  constructor(
    private readonly flaws: {
      neverRecordsDone?: boolean;
      keepsKeyOnFailure?: boolean;
      ignoresGroups?: boolean;
      joinsGroupAndKeyNaively?: boolean;
      checksThenActs?: boolean;
      foldsCase?: boolean;
    } = {},
  ) {}

  get counters(): DedupCounters {
    return this.totals.snapshot();
  }

  async execute(group: string, key: string, work: Work): Promise<DedupOutcome> {
    const id = this.idOf(group, key);
    const state = this.states.get(id);
    if (state === 'done') {
      this.totals.duplicate();
      return 'duplicate';
    }
    if (state === 'processing') {
      this.totals.busy();
      throw new DedupBusyError(group, key);
    }
    if (this.flaws.checksThenActs) {
      // The claim is taken after a round trip, so a concurrent delivery passes the check in between.
      await new Promise((resolve) => setTimeout(resolve, 5));
    } else {
      this.states.set(id, 'processing');
    }
    try {
      await work(undefined);
    } catch (error) {
      if (!this.flaws.keepsKeyOnFailure) this.states.delete(id);
      throw error;
    }
    if (this.flaws.neverRecordsDone) this.states.delete(id);
    else this.states.set(id, 'done');
    this.totals.processed();
    return 'processed';
  }

  async close(): Promise<void> {
    this.states.clear();
  }

  private idOf(group: string, key: string): string {
    const exactKey = this.flaws.foldsCase ? key.toLowerCase().trimEnd() : key;
    if (this.flaws.ignoresGroups) return exactKey;
    if (this.flaws.joinsGroupAndKeyNaively) return `${group}:${exactKey}`;
    return JSON.stringify([group, exactKey]);
  }
}

const contractCase = (name: string): DedupContractCase => contractCaseNamed(dedupContractCases, name);

const FIRST_RUN = 'runs work once';
const DUPLICATE = 'resolves duplicate';
const RELEASE = 'releases the key';
const CONCURRENT = 'never runs a concurrent delivery';
const CONCURRENT_FAILURE = 'lets a concurrent delivery of a run that fails';
const GROUPS = 'keeps groups apart';
const EXACT_KEYS = 'compares business keys exactly';

describe('the dedup contract', () => {
  it('has the cases that the broken stores below are checked against', () => {
    for (const name of [FIRST_RUN, DUPLICATE, RELEASE, CONCURRENT, CONCURRENT_FAILURE, GROUPS, EXACT_KEYS]) {
      expect(() => contractCase(name)).not.toThrow();
    }
  });

  it.each(dedupContractCases.map((c) => [c.name, c] as const))(
    'passes with the flawless harness store: %s',
    async (_, c) => {
      await c.run(new FlawedStore());
    },
  );
});

describe('the dedup contract fails for broken stores', () => {
  const broken: Array<{ store: string; make: () => DedupStore; fails: string[]; passes: string[] }> = [
    {
      store: 'a store that never records DONE',
      make: () => new FlawedStore({ neverRecordsDone: true }),
      fails: [DUPLICATE, RELEASE, CONCURRENT, CONCURRENT_FAILURE, GROUPS, EXACT_KEYS],
      passes: [FIRST_RUN],
    },
    {
      store: 'a store that does not release the key when work fails',
      make: () => new FlawedStore({ keepsKeyOnFailure: true }),
      fails: [RELEASE, CONCURRENT_FAILURE],
      passes: [FIRST_RUN, DUPLICATE, CONCURRENT],
    },
    {
      store: 'a store that ignores groups',
      make: () => new FlawedStore({ ignoresGroups: true }),
      fails: [GROUPS],
      passes: [FIRST_RUN, DUPLICATE, RELEASE, CONCURRENT, EXACT_KEYS],
    },
    {
      store: 'a store that joins group and key with ":"',
      make: () => new FlawedStore({ joinsGroupAndKeyNaively: true }),
      fails: [GROUPS],
      passes: [FIRST_RUN, DUPLICATE, RELEASE, CONCURRENT, EXACT_KEYS],
    },
    {
      store: 'a store that checks and then claims in two steps',
      make: () => new FlawedStore({ checksThenActs: true }),
      fails: [CONCURRENT, CONCURRENT_FAILURE],
      passes: [FIRST_RUN, DUPLICATE, RELEASE, GROUPS],
    },
    {
      store: 'a store that compares keys case- and padding-insensitively',
      make: () => new FlawedStore({ foldsCase: true }),
      fails: [EXACT_KEYS],
      passes: [FIRST_RUN, DUPLICATE, RELEASE, GROUPS],
    },
  ];

  for (const { store, make, fails, passes } of broken) {
    describe(store, () => {
      it.each(fails)('fails "%s…"', async (name) => {
        await expect(contractCase(name).run(make())).rejects.toThrow();
      });
      it.each(passes)('still passes "%s…", so the failures above point at the flaw', async (name) => {
        await contractCase(name).run(make());
      });
    });
  }

  it('the memory store passes every case that the broken stores fail', async () => {
    for (const c of dedupContractCases) await c.run(new MemoryDedupStore());
  });
});

describe('the dedup contract fails for a db store whose transactions overlap on one SQLite connection', () => {
  let directory: string;
  const dataSources: DataSource[] = [];

  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), 'rmq-dedup-broken-'));
  });

  afterAll(async () => {
    for (const dataSource of dataSources) if (dataSource.isInitialized) await dataSource.destroy();
    rmSync(directory, { recursive: true, force: true });
  });

  async function freshDataSource(): Promise<DataSource> {
    const dataSource = new DataSource({
      type: 'better-sqlite3',
      database: join(directory, `${uniqueName('inbox')}.sqlite`),
      migrations: [CreateInboxSqlite1700000000002],
    });
    dataSources.push(dataSource);
    await dataSource.initialize();
    await dataSource.runMigrations();
    return dataSource;
  }

  it('fails the concurrency case when the store does not serialise its transactions', async () => {
    const store = new DbDedupStore(await freshDataSource());
    // The flaw under test: what DbDedupStore would do without its lock for single-connection drivers.
    Object.defineProperty(store, 'serial', { value: undefined });
    await expect(contractCase(CONCURRENT).run(store)).rejects.toThrow(/busy rejection/);
  });

  it('passes it with the lock', async () => {
    await contractCase(CONCURRENT).run(new DbDedupStore(await freshDataSource()));
  });
});

describeWithService('mariadb', 'the dedup contract fails for an inbox table created without the migration', () => {
  const database = uniqueName('rmq_dedup_broken');
  let dataSource: DataSource;

  beforeAll(async () => {
    const admin = new DataSource({ type: 'mariadb', url: MARIADB_URL });
    await admin.initialize();
    try {
      // The server's usual default collation: case-insensitive and padding spaces.
      await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci`);
    } finally {
      await admin.destroy();
    }
    const url = new URL(MARIADB_URL);
    url.pathname = `/${database}`;
    dataSource = new DataSource({ type: 'mariadb', url: url.toString(), charset: 'utf8mb4' });
    await dataSource.initialize();
    await dataSource.query(
      'CREATE TABLE `rmq_inbox` (`group_name` varchar(191) NOT NULL, `dedup_key` varchar(191) NOT NULL, ' +
        '`processed_at` bigint NOT NULL, PRIMARY KEY (`group_name`, `dedup_key`))',
    );
  });

  afterAll(async () => {
    if (dataSource?.isInitialized) {
      await dataSource.query(`DROP DATABASE IF EXISTS \`${database}\``);
      await dataSource.destroy();
    }
  });

  it('fails "compares business keys exactly" on a case-insensitive default collation', async () => {
    await expect(contractCase(EXACT_KEYS).run(new DbDedupStore(dataSource))).rejects.toThrow(/delivery of "order-1"/);
  });
});
