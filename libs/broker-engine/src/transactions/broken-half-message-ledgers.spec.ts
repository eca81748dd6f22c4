import type Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { HalfMessageState } from '../engine.types';
import {
  ALL_OR_NONE,
  BUSY,
  CLAIM,
  CLAIM_RACE,
  COMMIT_ONCE,
  DUPLICATE,
  LIST,
  NEXT_CHECK,
  PRUNE,
  RACE,
  ROLLBACK,
  STORE,
  WARNED,
  halfMessageLedgerContractCases,
  type LedgerContractCase,
  type LedgerUnderTest,
} from '../../test/half-message-ledger.contract';
import { sqliteLedgerUnderTest } from '../../test/sqlite-ledger-fixture';
import type {
  AppliedTransition,
  ClaimedChecks,
  HalfLedgerQuery,
  HalfMessageLedger,
  HalfTransition,
  NewHalfRecord,
  PruneCursor,
  PrunedChunk,
  RefusedTransition,
} from './half-message-ledger';
import { toHalfMessage, type HalfMessageRow } from './half-message-store';

interface Flaws {
  /** Says a held message id was stored anew: a producer's retry gets a transaction id nobody checks. */
  reportsDuplicatesAsNew?: boolean;
  /** Updates without the state condition: a second answer overwrites the first, and a commit delivers again. */
  ignoresFromStates?: boolean;
  /** Applies each change of a call in a transaction of its own. */
  appliesOneByOne?: boolean;
  /** Reads due records, then counts their checks in a second step, unconditionally. */
  claimsInTwoSteps?: boolean;
  /** Claims records whose checker is still being asked. */
  ignoresBusy?: boolean;
  /** Retention that filters on the time sent only, unresolved records included. */
  prunesBySentAtOnly?: boolean;
  /** Forgets that the missing-checker warning was given. */
  forgetsWarnings?: boolean;
  /** Takes the earliest check over every record, resolved ones included. */
  nextCheckOfAnyState?: boolean;
  /** Lists every state whatever the query asks. */
  listsEveryState?: boolean;
}

const EVERY_STATE: HalfMessageState[] = ['unresolved', 'committed', 'rolled_back', 'discarded'];

/** The engine's ledger with one rule broken per flag; with no flag it keeps them all (checked below). */
class FlawedLedger implements HalfMessageLedger {
  constructor(
    private readonly inner: HalfMessageLedger,
    private readonly db: Database.Database,
    private readonly flaws: Flaws,
  ) {}

  async insert(record: NewHalfRecord): ReturnType<HalfMessageLedger['insert']> {
    const stored = await this.inner.insert(record);
    return this.flaws.reportsDuplicatesAsNew ? { ...stored, duplicate: false } : stored;
  }

  get(txId: string): ReturnType<HalfMessageLedger['get']> {
    return this.inner.get(txId);
  }

  list(query: HalfLedgerQuery): ReturnType<HalfMessageLedger['list']> {
    return this.inner.list(this.flaws.listsEveryState ? { ...query, state: 'any' } : query);
  }

  async transition(
    changes: readonly HalfTransition[],
    now: number,
    refused: RefusedTransition,
  ): Promise<AppliedTransition[]> {
    const asked = this.flaws.ignoresFromStates ? changes.map((change) => ({ ...change, from: EVERY_STATE })) : changes;
    if (!this.flaws.appliesOneByOne) return this.inner.transition(asked, now, refused);
    const applied: AppliedTransition[] = [];
    for (const change of asked) applied.push(...(await this.inner.transition([change], now, refused)));
    return applied;
  }

  async claimDue(now: number, nextCheckAt: number, limit: number, busy: ReadonlySet<string>): Promise<ClaimedChecks> {
    if (!this.flaws.claimsInTwoSteps) {
      return this.inner.claimDue(now, nextCheckAt, limit, this.flaws.ignoresBusy ? new Set() : busy);
    }
    const rows = this.db
      .prepare(
        `SELECT * FROM half_messages WHERE state = 'unresolved' AND next_check_at <= ? ORDER BY next_check_at LIMIT ?`,
      )
      .all(now, limit) as HalfMessageRow[];
    await new Promise<void>((resolve) => setImmediate(resolve));
    const claim = this.db.prepare(
      'UPDATE half_messages SET check_count = check_count + 1, next_check_at = ? WHERE tx_id = ?',
    );
    for (const row of rows) claim.run(nextCheckAt, row.tx_id);
    return {
      due: rows.length,
      claimed: rows.map((row) => ({
        half: toHalfMessage({ ...row, check_count: row.check_count + 1, next_check_at: nextCheckAt }),
        warned: row.warned === 1,
      })),
    };
  }

  async nextCheckAt(): Promise<number | null> {
    if (!this.flaws.nextCheckOfAnyState) return this.inner.nextCheckAt();
    return (this.db.prepare('SELECT MIN(next_check_at) AS due FROM half_messages').get() as { due: number | null }).due;
  }

  async markWarned(txId: string): Promise<void> {
    if (!this.flaws.forgetsWarnings) await this.inner.markWarned(txId);
  }

  pruneChunk(cutoff: number, limit: number, cursor: PruneCursor | null): Promise<PrunedChunk> {
    if (this.flaws.prunesBySentAtOnly && cursor === null) {
      this.db.prepare(`DELETE FROM half_messages WHERE state = 'unresolved' AND sent_at < ?`).run(cutoff);
    }
    return this.inner.pruneChunk(cutoff, limit, cursor);
  }
}

function flawed(flaws: Flaws): LedgerUnderTest {
  const subject = sqliteLedgerUnderTest();
  return { ...subject, ledger: new FlawedLedger(subject.ledger, subject.db, flaws) };
}

function contractCase(name: string): LedgerContractCase {
  const found = halfMessageLedgerContractCases.find((candidate) => candidate.name.startsWith(name));
  if (!found) throw new Error(`No ledger contract case starts with "${name}".`);
  return found;
}

async function run(name: string, flaws: Flaws): Promise<void> {
  const subject = flawed(flaws);
  try {
    await contractCase(name).run(subject);
  } finally {
    await subject.cleanup();
  }
}

describe('the half-message ledger contract', () => {
  it('has the cases the broken ledgers below are checked against', () => {
    const names = [STORE, DUPLICATE, COMMIT_ONCE, ROLLBACK, ALL_OR_NONE, RACE, CLAIM, CLAIM_RACE, BUSY];
    for (const name of [...names, NEXT_CHECK, WARNED, LIST, PRUNE]) expect(() => contractCase(name)).not.toThrow();
    expect(halfMessageLedgerContractCases).toHaveLength(13);
  });

  it.each(halfMessageLedgerContractCases.map((c) => [c.name] as const))(
    'passes with the flawless wrapper: %s',
    async (name) => {
      await run(name, {});
    },
  );
});

describe('the half-message ledger contract fails for broken ledgers', () => {
  const broken: Array<{ ledger: string; flaws: Flaws; fails: string[]; passes: string[] }> = [
    {
      ledger: 'a ledger that reports a held message id as newly stored',
      flaws: { reportsDuplicatesAsNew: true },
      fails: [DUPLICATE],
      passes: [STORE, COMMIT_ONCE, CLAIM],
    },
    {
      ledger: 'a ledger whose updates ignore the state they start from',
      flaws: { ignoresFromStates: true },
      fails: [COMMIT_ONCE, RACE],
      passes: [STORE, ROLLBACK, CLAIM, PRUNE],
    },
    {
      ledger: 'a ledger that applies the changes of one call one by one',
      flaws: { appliesOneByOne: true },
      fails: [ALL_OR_NONE],
      passes: [COMMIT_ONCE, RACE, ROLLBACK],
    },
    {
      ledger: 'a ledger that reads due checks, then counts them in a second step',
      flaws: { claimsInTwoSteps: true },
      fails: [CLAIM_RACE],
      passes: [CLAIM, WARNED],
    },
    {
      ledger: 'a ledger that claims a check whose checker is still being asked',
      flaws: { ignoresBusy: true },
      fails: [BUSY],
      passes: [CLAIM, CLAIM_RACE],
    },
    {
      ledger: 'a ledger whose retention looks at the time sent only',
      flaws: { prunesBySentAtOnly: true },
      fails: [PRUNE],
      passes: [STORE, COMMIT_ONCE],
    },
    {
      ledger: 'a ledger that forgets the missing-checker warning',
      flaws: { forgetsWarnings: true },
      fails: [WARNED],
      passes: [CLAIM, BUSY],
    },
    {
      ledger: 'a ledger whose next check counts resolved records',
      flaws: { nextCheckOfAnyState: true },
      fails: [NEXT_CHECK],
      passes: [CLAIM],
    },
    {
      ledger: 'a ledger that lists every state',
      flaws: { listsEveryState: true },
      fails: [LIST],
      passes: [STORE, COMMIT_ONCE],
    },
  ];

  for (const { ledger, flaws, fails, passes } of broken) {
    describe(ledger, () => {
      it.each(fails)('fails "%s…"', async (name) => {
        await expect(run(name, flaws)).rejects.toThrow();
      });
      it.each(passes)('still passes "%s…", so the failures above point at the flaw', async (name) => {
        await run(name, flaws);
      });
    });
  }
});
