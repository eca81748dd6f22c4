import type { Database } from 'better-sqlite3';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestDatabase } from '../../../../test/support/outbox-test-kit';
import { MARIADB_URL, POSTGRES_URL, uniqueName } from '../../../../test/support/services';
import { contractCaseNamed } from '../../test/contract-case';
import { DelegatingOutboxStore } from '../../test/delegating-outbox-store';
import { ContractViolation } from '../testing/contract-assertions';
import { emptyOutbox } from '../testing/outbox-contract-rows';
import type { OutboxContractCase } from '../testing/outbox-relay.contract-cases';
import { outboxStoreContractCases } from '../testing/outbox-store.contract';
import { outboxDialect } from './outbox-dialect';
import type { OutboxMessage } from './outbox-message.entity';
import type { OutboxProblemQuery } from './outbox-problems';
import { outboxRowFromRaw } from './outbox-row.codec';
import { SqliteOutboxStore } from './sqlite-outbox-store';
import type { ClaimRequest, ClaimedRow, FailureMark, OutboxStore } from './outbox-store.interface';

/*
 * Deliberately broken stores: each wraps the working SQLite store and replaces one statement with a plausible but
 * wrong one, written the way a hurried port to another database might. The contract must fail each on the cases
 * that cover its rule, and still pass the others, so that a failure points at the flaw.
 */

const CLAIM_COLUMNS = 'seq, id, topic, msg_key AS key, tags, headers, payload, attempts, deliver_at AS deliverAt';

function claimed(rows: Array<Record<string, unknown>>): ClaimedRow[] {
  return rows
    .map((row) => ({ ...(row as unknown as ClaimedRow), seq: Number(row.seq), attempts: Number(row.attempts) }))
    .sort((a, b) => a.seq - b.seq);
}

/**
 * Base of the broken stores: the working store, plus the broken statement run straight on the SQLite handle (which
 * is TypeORM's one connection, so it also runs inside any transaction the application has open there).
 */
abstract class BrokenStore extends DelegatingOutboxStore {
  protected readonly table: string;

  constructor(protected readonly dataSource: DataSource) {
    super(new SqliteOutboxStore(dataSource));
    this.table = outboxDialect(dataSource).table;
  }

  protected rows(sql: string, params: unknown[]): Array<Record<string, unknown>> {
    return this.handle()
      .prepare(sql)
      .all(...params) as Array<Record<string, unknown>>;
  }

  protected changes(sql: string, params: unknown[]): number {
    return this.handle()
      .prepare(sql)
      .run(...params).changes;
  }

  private handle(): Database {
    return (this.dataSource.driver as unknown as { databaseConnection: Database }).databaseConnection;
  }
}

/** Claims due rows in seq order, but forgets that an unsent earlier row of a key holds the later ones back. */
class ClaimsPastHeldKeys extends BrokenStore {
  override async claim(request: ClaimRequest): Promise<ClaimedRow[]> {
    const rows = this.rows(
      `UPDATE ${this.table} SET lease_owner = ?, lease_until = ?
       WHERE seq IN (SELECT seq FROM ${this.table} WHERE status = 'pending' AND next_attempt_at <= ?
                     AND (lease_until IS NULL OR lease_until < ?) ORDER BY seq LIMIT ?)
       RETURNING ${CLAIM_COLUMNS}`,
      [request.owner, request.leaseUntil, request.now, request.now, request.limit],
    );
    return claimed(rows);
  }
}

/** Reads the due rows but writes no lease: two relays claim, and send, the same rows. */
class LeasesNothing extends BrokenStore {
  override async claim(request: ClaimRequest): Promise<ClaimedRow[]> {
    const rows = await super.claim(request);
    await this.inner.releaseLeases(request.owner);
    return rows;
  }
}

/**
 * Runs its claim through TypeORM's shared SQLite connection, which joins whatever transaction the application has
 * open there: it sees, and leases, rows that may yet roll back.
 */
class ClaimsInsideOpenTransactions extends BrokenStore {
  override async claim(request: ClaimRequest): Promise<ClaimedRow[]> {
    const rows = this.rows(
      `UPDATE ${this.table} SET lease_owner = ?, lease_until = ?
       WHERE status = 'pending' AND next_attempt_at <= ? AND (lease_until IS NULL OR lease_until < ?)
       RETURNING ${CLAIM_COLUMNS}`,
      [request.owner, request.leaseUntil, request.now, request.now],
    );
    return claimed(rows);
  }
}

/** Marks rows sent whoever holds them: a relay whose lease was taken over still writes. */
class UnfencedSentMark extends BrokenStore {
  override async markSent(_owner: string, seqs: readonly number[], now: number): Promise<number> {
    return this.changes(
      `UPDATE ${this.table} SET status = 'sent', sent_at = ?, lease_until = NULL
       WHERE seq IN (SELECT value FROM json_each(?)) AND status = 'pending'`,
      [now, JSON.stringify(seqs)],
    );
  }
}

/** Counts a failure without checking which attempt it is for: a late mark for an old attempt counts again. */
class CountsEveryFailureMark extends BrokenStore {
  override async markFailed(mark: FailureMark): Promise<number> {
    return this.changes(
      `UPDATE ${this.table}
       SET attempts = ?, status = ?, next_attempt_at = ?, last_error = ?, lease_owner = NULL, lease_until = NULL
       WHERE seq IN (SELECT value FROM json_each(?)) AND lease_owner = ? AND status = 'pending'`,
      [
        mark.previousAttempts + 1,
        mark.dead ? 'dead' : 'pending',
        mark.nextAttemptAt,
        mark.error,
        JSON.stringify(mark.seqs),
        mark.owner,
      ],
    );
  }
}

/** Requeues what it is asked to, leases or not: it races a relay that is sending the row right now. */
class RequeuesLeasedRows extends BrokenStore {
  override async requeue(ids: readonly string[], now: number): Promise<number> {
    return this.changes(
      `UPDATE ${this.table} SET status = 'pending', attempts = 0, next_attempt_at = ?, lease_owner = NULL, lease_until = NULL
       WHERE id IN (SELECT value FROM json_each(?)) AND status IN ('pending', 'dead')`,
      [now, JSON.stringify(ids)],
    );
  }
}

/** Requeues fenced rows, but keeps their lease owner: a relay whose lease lapsed can still mark them. */
class RequeueKeepsOwner extends BrokenStore {
  override async requeue(ids: readonly string[], now: number): Promise<number> {
    const owners = new Map((await this.inner.findByIds(ids)).map((row) => [row.id, row.leaseOwner]));
    const changed = await this.inner.requeue(ids, now);
    for (const [id, owner] of owners) {
      if (owner !== null) this.changes(`UPDATE ${this.table} SET lease_owner = ? WHERE id = ?`, [owner, id]);
    }
    return changed;
  }
}

/** Discards by id only: sent rows vanish from the history, and leased rows while they are being sent. */
class DiscardsAnyRow extends BrokenStore {
  override async discard(ids: readonly string[]): Promise<number> {
    return this.changes(`DELETE FROM ${this.table} WHERE id IN (SELECT value FROM json_each(?))`, [
      JSON.stringify(ids),
    ]);
  }
}

/** Calls every row written before the threshold stuck, sent ones included. */
class ListsSentRowsAsStuck extends BrokenStore {
  override async listProblems(query: OutboxProblemQuery): Promise<{ total: number; items: OutboxMessage[] }> {
    if (query.problem === 'dead') return this.inner.listProblems(query);
    const rows = this.rows(
      `SELECT * FROM ${this.table} WHERE status <> 'dead' AND created_at < ? ORDER BY seq LIMIT ? OFFSET ?`,
      [query.stuckBefore, query.limit, query.offset],
    );
    return { total: rows.length, items: rows.map(outboxRowFromRaw) };
  }
}

const contractCase = (name: string): OutboxContractCase => contractCaseNamed(outboxStoreContractCases, name);

const LEASES = 'claim leases due rows';
const KEY_ORDER = 'claim never takes a row of a key';
const COMMITTED = 'claim never takes a row whose transaction';
const FENCED_MARKS = 'markSent and markFailed change only rows';
const FAILURE_MARK = 'markFailed counts one attempt';
const LIST = 'listProblems pages';
const REQUEUE = 'requeue makes rows pending';
const REQUEUE_FENCE = 'requeue fences out a relay';
const REQUEUE_ORDER = 'a requeued dead row goes out first';
const DISCARD = 'discard deletes pending and dead rows';

describe('the outbox store contract fails for broken stores', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await TestDatabase.create(
      'sqlite',
      { postgres: POSTGRES_URL, mariadb: MARIADB_URL },
      uniqueName('rmq_outbox_broken'),
    );
  });
  afterAll(async () => {
    await database?.dispose();
  });

  async function runCase(name: string, make: (dataSource: DataSource) => OutboxStore): Promise<void> {
    const dataSource = database.dataSource;
    await emptyOutbox(dataSource);
    await contractCase(name).run({ store: make(dataSource), dataSource });
  }

  it('has the cases that the broken stores below are checked against', () => {
    for (const name of [LEASES, KEY_ORDER, COMMITTED, FENCED_MARKS, FAILURE_MARK, LIST, REQUEUE, REQUEUE_FENCE]) {
      expect(() => contractCase(name)).not.toThrow();
    }
    for (const name of [REQUEUE_ORDER, DISCARD]) expect(() => contractCase(name)).not.toThrow();
  });

  it.each(outboxStoreContractCases.map((c) => [c.name] as const))('the working store passes: %s', async (name) => {
    await runCase(name, (dataSource) => new SqliteOutboxStore(dataSource));
  });

  const broken: Array<{
    store: string;
    make: (dataSource: DataSource) => OutboxStore;
    fails: string[];
    passes: string[];
  }> = [
    {
      store: 'a store whose claim ignores per-key order',
      make: (dataSource) => new ClaimsPastHeldKeys(dataSource),
      fails: [KEY_ORDER, REQUEUE_ORDER],
      passes: [LEASES, FENCED_MARKS, FAILURE_MARK],
    },
    {
      store: 'a store whose claim writes no lease',
      make: (dataSource) => new LeasesNothing(dataSource),
      fails: [LEASES, FENCED_MARKS],
      passes: [KEY_ORDER, LIST, DISCARD],
    },
    {
      store: "a store that claims inside the application's open transaction",
      make: (dataSource) => new ClaimsInsideOpenTransactions(dataSource),
      fails: [COMMITTED],
      passes: [LEASES, LIST, REQUEUE],
    },
    {
      store: 'a store whose sent mark ignores the lease owner',
      make: (dataSource) => new UnfencedSentMark(dataSource),
      fails: [FENCED_MARKS, REQUEUE_FENCE],
      passes: [LEASES, KEY_ORDER, FAILURE_MARK],
    },
    {
      store: 'a store that counts a failure mark for an attempt counted already',
      make: (dataSource) => new CountsEveryFailureMark(dataSource),
      fails: [FAILURE_MARK],
      passes: [LEASES, KEY_ORDER, REQUEUE],
    },
    {
      store: 'a store whose requeue ignores live leases',
      make: (dataSource) => new RequeuesLeasedRows(dataSource),
      fails: [REQUEUE],
      passes: [REQUEUE_FENCE, REQUEUE_ORDER, DISCARD],
    },
    {
      store: 'a store whose requeue keeps the lease owner',
      make: (dataSource) => new RequeueKeepsOwner(dataSource),
      fails: [REQUEUE, REQUEUE_FENCE],
      passes: [REQUEUE_ORDER, DISCARD, LIST],
    },
    {
      store: 'a store whose discard deletes by id only',
      make: (dataSource) => new DiscardsAnyRow(dataSource),
      fails: [DISCARD],
      passes: [REQUEUE, LIST, LEASES],
    },
    {
      store: 'a store that lists sent rows as stuck',
      make: (dataSource) => new ListsSentRowsAsStuck(dataSource),
      fails: [LIST],
      passes: [REQUEUE, DISCARD, LEASES],
    },
  ];

  for (const { store, make, fails, passes } of broken) {
    describe(store, () => {
      it.each(fails)('fails "%s…"', async (name) => {
        // A ContractViolation, not any error: the case must catch the flaw, not trip over the broken SQL.
        await expect(runCase(name, make)).rejects.toBeInstanceOf(ContractViolation);
      });
      it.each(passes)('still passes "%s…", so the failures above point at the flaw', async (name) => {
        await runCase(name, make);
      });
    });
  }
});
