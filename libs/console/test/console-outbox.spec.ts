import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '@reliable-mq/engine';
import { outboxDialect } from '@reliable-mq/nestjs';
import { TestDatabase, type TestDatabaseKind } from '../../../test/support/outbox-test-kit';
import type { DataSource } from 'typeorm';
import { MARIADB_URL, POSTGRES_URL, describeWithService, uniqueName } from '../../../test/support/services';
import { startConsoleKit, type ConsoleKit, type Session } from './console-test-kit';

interface Row {
  id: string;
  status: 'pending' | 'sent' | 'dead';
  createdAt: number;
  topic?: string;
  key?: string | null;
  attempts?: number;
  lastError?: string | null;
  leaseUntil?: number | null;
  payload?: string;
}

async function insert(dataSource: DataSource, row: Row): Promise<void> {
  const { table, param } = outboxDialect(dataSource);
  const values = [
    row.id,
    'orders',
    row.topic ?? 'orders',
    row.key ?? null,
    null,
    '{"x-trace":"t-1"}',
    row.payload ?? '{"orderId":"o-1"}',
    row.status,
    row.attempts ?? 0,
    row.createdAt,
    null,
    row.createdAt,
    row.status === 'sent' ? row.createdAt : null,
    row.leaseUntil ? 'relay-1' : null,
    row.leaseUntil ?? null,
    row.lastError ?? null,
  ];
  await dataSource.query(
    `INSERT INTO ${table} (id, producer_group, topic, msg_key, tags, headers, payload, status, attempts, next_attempt_at,
       deliver_at, created_at, sent_at, lease_owner, lease_until, last_error)
     VALUES (${values.map((_, index) => param(index + 1)).join(', ')})`,
    values,
  );
}

interface RowView {
  id: string;
  status: string;
  attempts: number;
  lastError: string | null;
  leasedUntil: number | null;
  payload: string;
  headers: Record<string, string>;
}

function outboxSuite(kind: TestDatabaseKind): void {
  let kit: ConsoleKit;
  let db: TestDatabase;
  let operator: Session;
  const now = Date.now();
  const ids = {
    fresh: uuidv7(),
    stuck: uuidv7(),
    stuckLeased: uuidv7(),
    dead: uuidv7(),
    dead2: uuidv7(),
    sent: uuidv7(),
    otherTopic: uuidv7(),
  };

  beforeAll(async () => {
    db = await TestDatabase.create(kind, { postgres: POSTGRES_URL, mariadb: MARIADB_URL }, uniqueName('rmq_console'));
    const ds = db.dataSource;
    await insert(ds, { id: ids.fresh, status: 'pending', createdAt: now, key: 'k-fresh' });
    await insert(ds, {
      id: ids.stuck,
      status: 'pending',
      createdAt: now - 10 * 60_000,
      key: 'k-stuck',
      attempts: 4,
      lastError: 'broker down',
    });
    await insert(ds, {
      id: ids.stuckLeased,
      status: 'pending',
      createdAt: now - 9 * 60_000,
      leaseUntil: now + 3_600_000,
    });
    await insert(ds, {
      id: ids.dead,
      status: 'dead',
      createdAt: now - 60 * 60_000,
      key: 'k-dead',
      attempts: 20,
      lastError: 'refused',
    });
    await insert(ds, {
      id: ids.dead2,
      status: 'dead',
      createdAt: now - 50 * 60_000,
      attempts: 20,
      payload: '{"secret":"kept in audit"}',
    });
    await insert(ds, { id: ids.sent, status: 'sent', createdAt: now - 70 * 60_000 });
    await insert(ds, { id: ids.otherTopic, status: 'dead', createdAt: now - 40 * 60_000, topic: 'payments' });
    kit = await startConsoleKit({ console: { services: [{ name: 'orders', dataSource: ds }] } });
    operator = await kit.login('operator');
  });
  afterAll(async () => {
    await kit?.close();
    await db?.dispose();
  });

  it('counts pending, stuck (pending longer than the threshold) and dead rows per service and topic', async () => {
    const answer = await kit.call<{
      stuckAfterMs: number;
      services: Array<{
        name: string;
        counts: Record<string, number | null>;
        byTopic: unknown[];
        error: string | null;
      }>;
    }>('GET', '/api/outbox', { session: operator });
    expect(answer.status).toBe(200);
    expect(answer.body.stuckAfterMs).toBe(5 * 60_000);
    const [service] = answer.body.services;
    expect(service!.error).toBeNull();
    expect(service!.counts).toMatchObject({ pending: 3, stuck: 2, dead: 3, oldestPendingAt: now - 10 * 60_000 });
    expect(service!.byTopic).toEqual(
      expect.arrayContaining([
        { topic: 'orders', stuck: 2, dead: 2 },
        { topic: 'payments', stuck: 0, dead: 1 },
      ]),
    );
  });

  it('lists stuck and dead rows, oldest first, filtered by topic and key', async () => {
    const stuck = await kit.call<{ total: number; items: RowView[] }>('GET', '/api/outbox/orders/rows?state=stuck', {
      session: operator,
    });
    expect(stuck.body.items.map((row) => row.id)).toEqual([ids.stuck, ids.stuckLeased]);
    expect(stuck.body.items[0]).toMatchObject({
      attempts: 4,
      lastError: 'broker down',
      leasedUntil: null,
      headers: { 'x-trace': 't-1' },
    });
    expect(stuck.body.items[1]!.leasedUntil).toBe(now + 3_600_000);
    const dead = await kit.call<{ total: number; items: RowView[] }>('GET', '/api/outbox/orders/rows?state=dead', {
      session: operator,
    });
    expect(dead.body.total).toBe(3);
    expect(dead.body.items.map((row) => row.id)).toEqual([ids.dead, ids.dead2, ids.otherTopic]);
    const byTopic = await kit.call<{ items: RowView[] }>('GET', '/api/outbox/orders/rows?state=dead&topic=payments', {
      session: operator,
    });
    expect(byTopic.body.items.map((row) => row.id)).toEqual([ids.otherTopic]);
    const byKey = await kit.call<{ items: RowView[] }>('GET', '/api/outbox/orders/rows?state=dead&key=k-dead', {
      session: operator,
    });
    expect(byKey.body.items.map((row) => row.id)).toEqual([ids.dead]);
    const paged = await kit.call<{ total: number; items: RowView[] }>(
      'GET',
      '/api/outbox/orders/rows?state=dead&limit=1&offset=1',
      {
        session: operator,
      },
    );
    expect(paged.body).toMatchObject({ total: 3 });
    expect(paged.body.items.map((row) => row.id)).toEqual([ids.dead2]);
    const one = await kit.call<RowView>('GET', `/api/outbox/orders/rows/${ids.dead}`, { session: operator });
    expect(one.body).toMatchObject({
      id: ids.dead,
      status: 'dead',
      payload: JSON.stringify({ orderId: 'o-1' }, null, 2),
    });
  });

  it('sorts rows in the database by a whitelisted column, across pages, with missing values last', async () => {
    const list = async (query: string) =>
      (
        await kit.call<{ total: number; items: RowView[] }>('GET', `/api/outbox/orders/rows?state=dead&${query}`, {
          session: operator,
        })
      ).body.items.map((row) => row.id);
    expect(await list('sort=createdAt&dir=desc')).toEqual([ids.otherTopic, ids.dead2, ids.dead]);
    expect([
      ...(await list('sort=createdAt&dir=desc&limit=2')),
      ...(await list('sort=createdAt&dir=desc&limit=2&offset=2')),
    ]).toEqual([ids.otherTopic, ids.dead2, ids.dead]);
    // Keys: k-dead, then the two rows without one, in seq order, whichever the direction.
    expect(await list('sort=key&dir=asc')).toEqual([ids.dead, ids.dead2, ids.otherTopic]);
    expect(await list('sort=key&dir=desc')).toEqual([ids.dead, ids.otherTopic, ids.dead2]);
    expect(await list('sort=attempts')).toHaveLength(3);
    const refused = await kit.call<{ message: string[] }>('GET', '/api/outbox/orders/rows?sort=msg_key', {
      session: operator,
    });
    expect(refused.status).toBe(400);
    expect(refused.body.message.join(' ')).toContain(
      'sort must be one of: seq, id, topic, key, attempts, createdAt, nextAttemptAt, error',
    );
  });

  it('refuses malformed queries (400), unknown services and rows (404)', async () => {
    for (const query of ['state=sent', 'state=bogus', 'limit=0', 'limit=x', 'offset=-3', 'nope=1', 'dir=up']) {
      expect((await kit.call('GET', `/api/outbox/orders/rows?${query}`, { session: operator })).status, query).toBe(
        400,
      );
    }
    expect((await kit.call('GET', '/api/outbox/nowhere/rows', { session: operator })).status).toBe(404);
    expect((await kit.call('GET', `/api/outbox/orders/rows/${uuidv7()}`, { session: operator })).status).toBe(404);
    expect((await kit.call('GET', '/api/outbox/orders/rows/not-a-uuid', { session: operator })).status).toBe(400);
    expect(
      (await kit.call('POST', '/api/outbox/nowhere/requeue', { session: operator, body: { ids: [ids.dead] } })).status,
    ).toBe(404);
  });

  it('requeues dead and stuck rows with attempts reset, never a sent row or one a relay holds', async () => {
    const post = (body: unknown) =>
      kit.call<{ requeued: number; message: string }>('POST', '/api/outbox/orders/requeue', {
        session: operator,
        body,
      });
    expect((await post({ ids: [] })).status).toBe(400);
    expect((await post({ ids: ['x'] })).status).toBe(400);
    expect((await post({ ids: [uuidv7()] })).status).toBe(404);
    const sent = await post({ ids: [ids.dead, ids.sent] });
    expect(sent.status).toBe(409);
    expect(sent.body.message).toContain('Nothing was changed');
    expect((await post({ ids: [ids.stuckLeased] })).status).toBe(409);
    const rowsBefore = await db.rows();
    expect(rowsBefore.find((row) => row.id === ids.dead)!.status).toBe('dead');

    const answer = await post({ ids: [ids.dead, ids.stuck], reason: 'broker is back' });
    expect(answer.status).toBe(200);
    expect(answer.body.requeued).toBe(2);
    const rows = await db.rows();
    for (const id of [ids.dead, ids.stuck]) {
      const row = rows.find((candidate) => candidate.id === id)!;
      expect(row).toMatchObject({ status: 'pending', attempts: 0, leaseOwner: null, leaseUntil: null });
      expect(row.nextAttemptAt).toBeGreaterThanOrEqual(now);
    }
    const audit = await kit.call<{ items: Array<Record<string, unknown>> }>('GET', '/api/audit?action=outbox.requeue', {
      session: operator,
    });
    expect(audit.body.items[0]).toMatchObject({
      actor: 'operator',
      count: 2,
      reason: 'broker is back',
      outcome: 'ok',
      target: 'outbox orders: 2 rows',
    });
  });

  it('discards rows only with a reason, deleting them and keeping their content in the audit log', async () => {
    const post = (body: unknown) =>
      kit.call<{ discarded: number }>('POST', '/api/outbox/orders/discard', { session: operator, body });
    expect((await post({ ids: [ids.dead2] })).status).toBe(400);
    expect((await post({ ids: [ids.dead2], reason: ' ' })).status).toBe(400);
    expect((await post({ ids: [ids.sent], reason: 'x' })).status).toBe(409);
    const answer = await post({ ids: [ids.dead2], reason: 'obsolete event' });
    expect(answer.status).toBe(200);
    expect(answer.body.discarded).toBe(1);
    expect((await db.rows()).some((row) => row.id === ids.dead2)).toBe(false);
    const audit = await kit.call<{
      items: Array<{ reason: string; details: { rows: Array<{ payload: string; id: string }> } }>;
    }>('GET', '/api/audit?action=outbox.discard', { session: operator });
    expect(audit.body.items[0]!.reason).toBe('obsolete event');
    expect(audit.body.items[0]!.details.rows[0]).toMatchObject({
      id: ids.dead2,
      payload: '{"secret":"kept in audit"}',
    });
  });

  it('takes the stuck threshold from the settings an admin changes', async () => {
    const admin = await kit.login('admin');
    expect(
      (await kit.call('PUT', '/api/admin/settings', { session: admin, body: { stuckAfterMs: 2 * 3_600_000 } })).status,
    ).toBe(200);
    const answer = await kit.call<{ services: Array<{ counts: { stuck: number } }> }>('GET', '/api/outbox', {
      session: operator,
    });
    expect(answer.body.services[0]!.counts.stuck).toBe(0);
    const page = await kit.call('GET', '/outbox?service=orders&state=stuck', { session: operator });
    expect(page.status).toBe(200);
    expect(page.text).toContain('A row pending longer than 2 h 0 min is stuck');
  });
}

describe('outbox on SQLite', () => outboxSuite('sqlite'));
describeWithService('postgres', 'outbox on PostgreSQL', () => outboxSuite('postgres'));
describeWithService('mariadb', 'outbox on MariaDB', () => outboxSuite('mariadb'));

describe('transactions: unresolved and discarded half messages', () => {
  let kit: ConsoleKit;
  let operator: Session;
  const txIds: string[] = [];

  beforeAll(async () => {
    kit = await startConsoleKit({
      engine: {
        transactionTimeoutMs: 300,
        checkIntervalMs: 100,
        transactionCheckMax: 1,
        maintenanceIntervalMs: 50,
        onWarning: () => undefined,
      },
    });
    operator = await kit.login('operator');
    for (let index = 0; index < 3; index++) {
      const half = await kit.engine.sendHalf(
        {
          topic: index === 2 ? 'invoices' : 'orders',
          key: `tx-${index}`,
          body: JSON.stringify({ orderId: `o-${index}` }),
        },
        { producerGroup: 'checkout' },
      );
      txIds.push(half.txId);
    }
  });
  afterAll(async () => kit?.close());

  it('lists unresolved half messages, then the discarded ones once checks run out, with filters', async () => {
    const unresolved = await kit.call<{ supported: boolean; total: number; items: Array<{ txId: string }> }>(
      'GET',
      '/api/transactions?state=unresolved',
      { session: operator },
    );
    expect(unresolved.body.supported).toBe(true);
    expect(unresolved.body.items.map((half) => half.txId).sort()).toEqual([...txIds].sort());
    const deadline = Date.now() + 10_000;
    let discarded: { total: number; items: Array<{ txId: string; topic: string; payload: { json: unknown } }> } = {
      total: 0,
      items: [],
    };
    while (discarded.total < 3 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      discarded = (await kit.call<typeof discarded>('GET', '/api/transactions?state=discarded', { session: operator }))
        .body;
    }
    expect(discarded.total).toBe(3);
    const byTopic = await kit.call<{ items: Array<{ txId: string }> }>(
      'GET',
      '/api/transactions?state=discarded&topic=invoices',
      {
        session: operator,
      },
    );
    expect(byTopic.body.items.map((half) => half.txId)).toEqual([txIds[2]]);
    const byId = await kit.call<{ items: Array<{ txId: string }> }>(
      `GET`,
      `/api/transactions?state=discarded&id=${txIds[0]}`,
      {
        session: operator,
      },
    );
    expect(byId.body.items.map((half) => half.txId)).toEqual([txIds[0]]);
    const overview = await kit.call<{ transactions: { discarded: number } }>('GET', '/api/overview', {
      session: operator,
    });
    expect(overview.body.transactions.discarded).toBe(3);
    for (const query of ['state=committed', 'limit=0', 'producerGroup=' + 'x'.repeat(300)]) {
      expect((await kit.call('GET', `/api/transactions?${query}`, { session: operator })).status, query).toBe(400);
    }
  });

  it('commits a discarded half message by hand, and discards another with a required reason', async () => {
    const commit = await kit.call<{ committed: string[] }>('POST', '/api/transactions/commit', {
      session: operator,
      body: { txIds: [txIds[0]], reason: 'payment confirmed by the bank' },
    });
    expect(commit.status).toBe(200);
    expect(commit.body.committed).toEqual([txIds[0]]);
    expect(kit.engine.getHalfMessage(txIds[0]!)!.state).toBe('committed');
    expect(
      (await kit.call('POST', '/api/transactions/commit', { session: operator, body: { txIds: [txIds[0]] } })).status,
    ).toBe(404);

    expect(
      (await kit.call('POST', '/api/transactions/discard', { session: operator, body: { txIds: [txIds[1]] } })).status,
    ).toBe(400);
    expect(
      (await kit.call('POST', '/api/transactions/discard', { session: operator, body: { txIds: [], reason: 'x' } }))
        .status,
    ).toBe(400);
    expect(
      (
        await kit.call('POST', '/api/transactions/discard', {
          session: operator,
          body: { txIds: ['nope'], reason: 'x' },
        })
      ).status,
    ).toBe(404);
    const discard = await kit.call<{ discarded: string[] }>('POST', '/api/transactions/discard', {
      session: operator,
      body: { txIds: [txIds[1]], reason: 'order was cancelled' },
    });
    expect(discard.status).toBe(200);
    const half = kit.engine.getHalfMessage(txIds[1]!)!;
    expect(half.state).not.toBe('discarded');
    expect(half.state).not.toBe('committed');
    const audit = await kit.call<{ items: Array<{ action: string; reason: string; count: number }> }>(
      'GET',
      '/api/audit?action=transactions.',
      {
        session: operator,
      },
    );
    expect(audit.body.items.map((entry) => [entry.action, entry.reason, entry.count])).toEqual([
      ['transactions.discard', 'order was cancelled', 1],
      ['transactions.commit', 'payment confirmed by the bank', 1],
    ]);
  });
});

describe('transactions on a broker without half messages', () => {
  let kit: ConsoleKit;
  beforeAll(async () => {
    kit = await startConsoleKit({ withTransactions: false });
  });
  afterAll(async () => kit?.close());

  it('says so instead of failing, and refuses actions with 501', async () => {
    const operator = await kit.login('operator');
    const list = await kit.call('GET', '/api/transactions', { session: operator });
    expect(list.body).toEqual({ supported: false, state: 'discarded', total: 0, items: [] });
    const commit = await kit.call('POST', '/api/transactions/commit', { session: operator, body: { txIds: ['t'] } });
    expect(commit.status).toBe(501);
    const page = await kit.call('GET', '/transactions', { session: operator });
    expect(page.text).toContain('This broker has no transactional (half) messages.');
  });
});
