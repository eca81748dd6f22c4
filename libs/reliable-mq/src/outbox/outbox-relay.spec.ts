import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { seededRandom } from '../../../../test/support/seeded-random';
import { MARIADB_URL, POSTGRES_URL, describeWithService, uniqueName } from '../../../../test/support/services';
import { TransportUnavailableError } from '../errors/transport-unavailable.error';
import { ReliablePublisher } from '../producing/reliable-publisher.service';
import type { OutgoingMessage } from '../producing/outgoing-message.interface';
import type { RelayOptions } from '../reliable-mq-options.interface';
import type { TransportMessage } from '../transport/transport.interface';
import { createOutboxStore } from './create-outbox-store';
import { outboxDialect } from './outbox-dialect';
import { OutboxRelay } from './outbox-relay';
import {
  FakeTransport,
  MemoryLogger,
  TestDatabase,
  gate,
  waitFor,
  type TestDatabaseKind,
} from '../../../../test/support/outbox-test-kit';

const URLS = { postgres: POSTGRES_URL, mariadb: MARIADB_URL };

const outboxTable = (db: TestDatabase): string => outboxDialect(db.dataSource).table;

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

function relaySuite(kind: TestDatabaseKind): void {
  let db: TestDatabase;
  let transport: FakeTransport;
  let publisher: ReliablePublisher;
  const relays: OutboxRelay[] = [];

  function makeRelay(
    options: RelayOptions = {},
    extra: { transport?: FakeTransport; dataSource?: TestDatabase['dataSource']; logger?: MemoryLogger } = {},
  ): OutboxRelay {
    const relay = new OutboxRelay({
      dataSource: extra.dataSource ?? db.dataSource,
      transport: extra.transport ?? transport,
      logger: extra.logger ?? new MemoryLogger(),
      options,
    });
    relays.push(relay);
    return relay;
  }

  async function publishInTransactions(messages: OutgoingMessage[], perTransaction: number): Promise<string[]> {
    const ids: string[] = [];
    for (let start = 0; start < messages.length; start += perTransaction) {
      ids.push(
        ...(await publisher.transaction((manager) =>
          publisher.publish(messages.slice(start, start + perTransaction), { manager }),
        )),
      );
    }
    return ids;
  }

  beforeEach(async () => {
    db = await TestDatabase.create(kind, URLS, uniqueName('rmq_relay'));
    transport = new FakeTransport();
    publisher = new ReliablePublisher({ dataSource: db.dataSource, transport, producerGroup: 'order-service' });
  });

  afterEach(async () => {
    await Promise.all(relays.splice(0).map((relay) => relay.stop()));
    publisher.close();
    await db.dispose();
  });

  it('sends every row once confirmed, in per-key order, even when sends keep failing', async () => {
    const random = seededRandom(kind.length * 7919);
    transport.behaviour = () => {
      if (random() < 0.25) throw new Error('simulated broker hiccup');
    };
    const relay = makeRelay({ backoffBaseMs: 5, backoffMaxMs: 20, sweepCron: '*/5 * * * * *', batchSize: 50 });
    publisher.setWakeRelay(() => relay.wake());
    relay.start();
    const keys = ['a', 'b', 'c', 'd', 'e'];
    const messages: OutgoingMessage[] = Array.from({ length: 300 }, (_, i) => ({
      topic: 'order.events',
      key: i % 6 === 5 ? undefined : keys[i % 6],
      tags: ['n'],
      headers: { n: String(i) },
      payload: { n: i },
    }));
    const ids = await publishInTransactions(messages, 15);
    await waitFor(async () => (await db.rows()).every((row) => row.status === 'sent'), 20_000, 'every row sent');
    // The counters move just after the rows are marked: let the round that marked the last rows finish.
    await relay.flush();

    const rows = await db.rows();
    expect(rows.map((row) => row.id)).toEqual(ids);
    // No batch ever carried two rows of one key: a row waits for its predecessor's confirm.
    for (const call of transport.calls) {
      const callKeys = call.messages.map((message) => message.key).filter((key) => key !== undefined);
      expect(new Set(callKeys).size).toBe(callKeys.length);
    }
    const firstConfirm = new Map<string, TransportMessage>();
    for (const message of transport.recorder.confirmed())
      if (!firstConfirm.has(message.id)) firstConfirm.set(message.id, message);
    expect(firstConfirm.size).toBe(300);
    const confirmedOrder = [...firstConfirm.values()];
    for (const key of keys) {
      const expected = rows.filter((row) => row.key === key).map((row) => row.id);
      expect(confirmedOrder.filter((message) => message.key === key).map((message) => message.id)).toEqual(expected);
    }
    // The wire message is the row, unchanged.
    const sample = firstConfirm.get(ids[7]!)!;
    expect(sample).toMatchObject({ topic: 'order.events', key: 'b', tags: ['n'], headers: { n: '7' } });
    expect(JSON.parse(sample.body.toString('utf8'))).toEqual({ n: 7 });
    expect(transport.calls.some((call) => !call.ok)).toBe(true);
    const metrics = relay.metrics();
    expect(metrics.sent).toBe(300);
    expect(metrics.failed).toBeGreaterThan(0);
    expect(metrics.dead).toBe(0);
    expect(await relay.pendingCount()).toBe(0);
  });

  it('is woken by the commit, far sooner than the sweep interval', async () => {
    const relay = makeRelay(); // default sweep: every 5 s
    publisher.setWakeRelay(() => relay.wake());
    relay.start();
    await relay.flush();
    const latencies: number[] = [];
    for (let i = 0; i < 15; i += 1) {
      const before = transport.calls.length;
      await publisher.transaction((manager) =>
        publisher.publish({ topic: 'order.created', key: `k${i}`, payload: { i } }, { manager }),
      );
      const committedAt = performance.now();
      await waitFor(() => transport.calls.length > before, 4_000, 'the woken relay to send');
      latencies.push(transport.calls[before]!.startedAt - committedAt);
    }
    console.log(
      `[outbox-relay ${kind}] commit → transport.publish latency: median ${median(latencies).toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms`,
    );
    expect(Math.max(...latencies)).toBeLessThan(1_000);
    expect(relay.metrics().rounds).toBeLessThan(40);
  });

  it('status(): how long the oldest pending row has waited, and the pending rows held while the broker is away', async () => {
    const relay = makeRelay({ sweepCron: '*/30 * * * * *' });
    expect(await relay.status()).toEqual({
      transportConnected: true,
      disconnectedSince: null,
      rowsHeldForBroker: 0,
      oldestPendingAgeMs: null,
    });
    await publishInTransactions(
      Array.from({ length: 3 }, (_, i) => ({ topic: 'order.created', key: `k${i}`, payload: { i } })),
      3,
    );
    await new Promise((resolve) => setTimeout(resolve, 60));
    const waiting = await relay.status();
    expect(waiting).toMatchObject({ transportConnected: true, rowsHeldForBroker: 0 });
    expect(waiting.oldestPendingAgeMs).toBeGreaterThanOrEqual(50);

    transport.behaviour = () => {
      throw new TransportUnavailableError('Not connected to the broker; reconnecting.');
    };
    const failedAt = Date.now();
    await relay.flush();
    const away = await relay.status();
    expect(away).toMatchObject({ transportConnected: false, rowsHeldForBroker: 3 });
    expect(away.disconnectedSince).toBeGreaterThanOrEqual(failedAt);

    transport.behaviour = undefined;
    await relay.flush();
    expect(await relay.status()).toEqual({
      transportConnected: true,
      disconnectedSince: null,
      rowsHeldForBroker: 0,
      oldestPendingAgeMs: null,
    });
  });

  it('backs off a failing row, marks it dead after maxAttempts with the last error, and holds back only its key', async () => {
    transport.behaviour = (batch) => {
      if (batch.some((message) => message.topic === 'poison')) throw new Error('broker refused topic "poison"');
    };
    const logger = new MemoryLogger();
    const relay = makeRelay(
      { maxAttempts: 3, backoffBaseMs: 50, backoffMaxMs: 100, sweepCron: '* * * * * *' },
      { logger },
    );
    const [poisonId, followerId] = await publisher.transaction((manager) =>
      publisher.publish(
        [
          { topic: 'poison', key: 'k1', payload: 1 },
          { topic: 'fine', key: 'k1', payload: 2 },
          ...Array.from({ length: 20 }, (_, i) => ({ topic: 'fine', key: `other-${i}`, payload: i })),
        ],
        { manager },
      ),
    );
    const firstRound = Date.now();
    await relay.flush();
    let rows = await db.rows();
    const poison = rows.find((row) => row.id === poisonId)!;
    expect(poison).toMatchObject({
      status: 'pending',
      attempts: 1,
      leaseOwner: null,
      lastError: 'Error: broker refused topic "poison"',
    });
    expect(poison.nextAttemptAt - firstRound).toBeGreaterThanOrEqual(40);
    expect(poison.nextAttemptAt - Date.now()).toBeLessThanOrEqual(60);
    // The healthy rows claimed with it were isolated and sent in the same round.
    expect(
      rows
        .filter((row) => row.topic === 'fine' && row.key !== 'k1')
        .every((row) => row.status === 'sent' && row.attempts === 0),
    ).toBe(true);

    relay.start();
    await waitFor(
      async () => (await db.rows()).find((row) => row.id === poisonId)!.status === 'dead',
      15_000,
      'the row to die',
    );
    rows = await db.rows();
    expect(rows.find((row) => row.id === poisonId)).toMatchObject({
      status: 'dead',
      attempts: 3,
      lastError: 'Error: broker refused topic "poison"',
    });
    // The next row of the dead row's key is never sent: its order would be broken.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect((await db.rows()).find((row) => row.id === followerId)).toMatchObject({ status: 'pending', attempts: 0 });
    expect(transport.calls.some((call) => call.ids.includes(followerId!))).toBe(false);
    const poisonCalls = transport.calls.filter((call) => call.ids.includes(poisonId!));
    expect(poisonCalls.filter((call) => call.ids.length === 1)).toHaveLength(3);
    expect(relay.metrics().dead).toBe(1);
    expect(logger.lines.some((line) => line.level === 'error' && /now dead/.test(line.message))).toBe(true);
    expect(await relay.pendingCount()).toBe(1);
  });

  it('marks a row whose stored headers are unreadable as failed without holding back the rest', async () => {
    const ids = await publisher.transaction((manager) =>
      publisher.publish(
        [
          { topic: 't', payload: 1 },
          { topic: 't', payload: 2 },
        ],
        { manager },
      ),
    );
    await db.exec(`UPDATE {t} SET headers = 'not json' WHERE id = ${db.param(1)}`, [ids[0]]);
    const relay = makeRelay();
    await relay.flush();
    const rows = await db.rows();
    expect(rows[0]).toMatchObject({ status: 'pending', attempts: 1 });
    expect(rows[0]!.lastError).toMatch(/not valid JSON/);
    expect(rows[1]!.status).toBe('sent');
  });

  it('deletes sent rows older than the retention, in chunks, and nothing else', async () => {
    const day = 86_400_000;
    const old = Array.from({ length: 2_100 }, (_, i) => ({ topic: 't', payload: i }));
    await publisher.transaction((manager) => publisher.publish(old, { manager }));
    await db.exec(`UPDATE {t} SET status = 'sent', sent_at = ${db.param(1)}`, [Date.now() - 8 * day]);
    const recent = await publisher.transaction((manager) =>
      publisher.publish(
        [
          { topic: 't', payload: 'a' },
          { topic: 't', payload: 'b' },
        ],
        { manager },
      ),
    );
    const stillPending = await publisher.transaction((manager) =>
      publisher.publish({ topic: 't', payload: 'c' }, { manager }),
    );
    await db.exec(`UPDATE {t} SET created_at = ${db.param(1)} WHERE id = ${db.param(2)}`, [
      Date.now() - 30 * day,
      stillPending,
    ]);
    const relay = makeRelay({ retentionMs: '7d' });
    // Send the recent ones now (sent_at = now) while the pending one is held back by its backoff.
    await db.exec(`UPDATE {t} SET next_attempt_at = ${db.param(1)} WHERE id = ${db.param(2)}`, [
      Date.now() + day,
      stillPending,
    ]);
    await relay.flush();

    expect(await relay.cleanup()).toBe(2_100);
    const rows = await db.rows();
    expect(rows.map((row) => row.id).sort()).toEqual([...recent, stillPending].sort());
    expect(await relay.cleanup()).toBe(0);
  });

  it('fences a relay whose lease expired and was taken over: it cannot mark the rows sent', async () => {
    const ids = await publisher.transaction((manager) =>
      publisher.publish(
        Array.from({ length: 3 }, (_, i) => ({ topic: 't', key: `k${i}`, payload: i })),
        { manager },
      ),
    );
    const holdA = gate();
    const holdB = gate();
    const transportA = new FakeTransport('a', transport.recorder);
    const transportB = new FakeTransport('b', transport.recorder);
    transportA.behaviour = () => holdA.promise;
    transportB.behaviour = () => holdB.promise;
    const loggerA = new MemoryLogger();
    const relayA = makeRelay({ leaseMs: 300, instanceId: 'relay-a' }, { transport: transportA, logger: loggerA });
    const relayB = makeRelay(
      { leaseMs: 300, instanceId: 'relay-b' },
      { transport: transportB, dataSource: await db.open() },
    );

    const roundA = relayA.flush();
    await waitFor(() => transportA.calls.length === 1, 5_000, 'relay A to send');
    expect((await db.rows()).every((row) => row.leaseOwner === 'relay-a')).toBe(true);
    // While A's lease holds, B finds nothing.
    await relayB.flush();
    expect(transportB.calls).toHaveLength(0);

    await new Promise((resolve) => setTimeout(resolve, 350));
    const roundB = relayB.flush();
    await waitFor(() => transportB.calls.length === 1, 5_000, 'relay B to take over');
    expect((await db.rows()).every((row) => row.leaseOwner === 'relay-b')).toBe(true);

    holdA.open();
    await roundA;
    expect(relayA.metrics()).toMatchObject({ sent: 0, fenced: 3 });
    expect(loggerA.lines.some((line) => line.level === 'warn' && /not marked sent/.test(line.message))).toBe(true);
    expect((await db.rows()).every((row) => row.status === 'pending' && row.leaseOwner === 'relay-b')).toBe(true);

    holdB.open();
    await roundB;
    expect(relayB.metrics()).toMatchObject({ sent: 3, fenced: 0 });
    const rows = await db.rows();
    expect(rows.map((row) => row.id)).toEqual(ids);
    expect(rows.every((row) => row.status === 'sent' && row.leaseOwner === 'relay-b' && row.sentAt !== null)).toBe(
      true,
    );
  });

  it('stop() waits for the round in flight, stops the sweep, and releases leases it still holds', async () => {
    const hold = gate();
    transport.behaviour = () => hold.promise;
    const relay = makeRelay({ sweepCron: '* * * * * *', instanceId: 'stopping-relay' });
    await publisher.transaction((manager) => publisher.publish({ topic: 't', payload: 1 }, { manager }));
    relay.start();
    await waitFor(() => transport.calls.length === 1, 5_000, 'the first send');
    // A lease left behind by an earlier crash of the same instance.
    const [leftOver] = await publisher.transaction((manager) =>
      publisher.publish([{ topic: 't', payload: 2 }], { manager }),
    );
    const store = createOutboxStore(db.dataSource);
    const now = Date.now();
    const claimed = await store.claim({
      owner: 'stopping-relay',
      now,
      leaseUntil: now + 60_000,
      limit: 10,
      maxBytes: 1_000_000,
    });
    expect(claimed.map((row) => row.id)).toEqual([leftOver]);

    let stopped = false;
    const stopping = relay.stop().then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(stopped).toBe(false);
    hold.open();
    await stopping;
    const rows = await db.rows();
    expect(rows[0]!.status).toBe('sent');
    expect(rows[1]).toMatchObject({ status: 'pending', leaseOwner: null, leaseUntil: null });
    const calls = transport.calls.length;
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    relay.wake();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(transport.calls.length).toBe(calls);
  });

  it("moves a hot key's backlog in one claim, one row of the key per publish, in order", async () => {
    const messages: OutgoingMessage[] = [];
    for (let i = 0; i < 40; i += 1) {
      messages.push({ topic: 'orders', key: 'hot', headers: { n: String(i) }, payload: { i } });
      if (i % 4 === 0) messages.push({ topic: 'orders', key: `cold-${i}`, payload: { i } });
    }
    const ids = await publishInTransactions(messages, 50);
    const relay = makeRelay({ batchSize: 100 });
    await relay.flush();

    const rows = await db.rows();
    expect(rows.every((row) => row.status === 'sent' && row.attempts === 0)).toBe(true);
    // One claim took the whole backlog (the second round found nothing), where one row per key per claim needs 40.
    expect(relay.metrics()).toMatchObject({ rounds: 2, claimed: 50, sent: 50 });
    // 40 waves: the n-th hot row goes out once the (n − 1)-th was confirmed; the cold rows ride in the first.
    expect(transport.calls).toHaveLength(40);
    expect(transport.calls[0]!.messages.map((message) => message.key)).toEqual([
      'hot',
      ...messages.filter((message) => message.key !== 'hot').map((message) => message.key),
    ]);
    for (const call of transport.calls) {
      const keys = call.messages.map((message) => message.key);
      expect(new Set(keys).size).toBe(keys.length);
    }
    const hotIds = ids.filter((_, index) => messages[index]!.key === 'hot');
    expect(
      transport.recorder
        .confirmed()
        .filter((message) => message.key === 'hot')
        .map((message) => message.id),
    ).toEqual(hotIds);
  });

  it("stops a key's later rows in the round when one of them fails, without counting them an attempt", async () => {
    let refuse = true;
    transport.behaviour = (batch) => {
      if (refuse && batch.some((message) => message.headers.n === '2')) throw new Error('nack for row 2');
    };
    const ids = await publisher.transaction((manager) =>
      publisher.publish(
        [
          ...Array.from({ length: 6 }, (_, n) => ({ topic: 't', key: 'k', headers: { n: String(n) }, payload: n })),
          { topic: 't', payload: 'keyless' },
        ],
        { manager },
      ),
    );
    // A backoff long enough that the failed row is still waiting when the test claims, even on a loaded machine.
    const relay = makeRelay({ backoffBaseMs: 400, backoffMaxMs: 500, instanceId: 'wave-relay' });
    await relay.flush();

    let rows = await db.rows();
    const byN = (n: number) => rows.find((row) => row.id === ids[n])!;
    expect(byN(0).status).toBe('sent');
    expect(byN(1).status).toBe('sent');
    expect(byN(6).status).toBe('sent');
    expect(byN(2)).toMatchObject({
      status: 'pending',
      attempts: 1,
      leaseOwner: null,
      lastError: 'Error: nack for row 2',
    });
    for (const n of [3, 4, 5]) {
      expect(byN(n)).toMatchObject({ status: 'pending', attempts: 0, leaseOwner: null, leaseUntil: null });
    }
    const sentIds = new Set(transport.calls.flatMap((call) => call.ids));
    expect([3, 4, 5].some((n) => sentIds.has(ids[n]!))).toBe(false);
    expect(relay.metrics()).toMatchObject({ sent: 3, failed: 1 });

    // Released rows wait behind the failed one, and follow it once it goes through.
    const store = createOutboxStore(db.dataSource);
    const now = Date.now();
    expect(
      await store.claim({ owner: 'someone-else', now, leaseUntil: now + 1_000, limit: 10, maxBytes: 1_000_000 }),
    ).toEqual([]);
    refuse = false;
    await new Promise((resolve) => setTimeout(resolve, 550));
    await relay.flush();
    rows = await db.rows();
    expect(rows.every((row) => row.status === 'sent')).toBe(true);
    expect(
      transport.recorder
        .confirmed()
        .filter((message) => message.key === 'k')
        .map((message) => message.id),
    ).toEqual(ids.slice(0, 6));
  });

  it('claims the next batch while one is on its way, with one batch in flight at a time', async () => {
    const hold = gate();
    let inFlight = 0;
    let most = 0;
    transport.behaviour = async (_batch, call) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      if (call === 0) await hold.promise;
      inFlight -= 1;
    };
    await publisher.transaction((manager) =>
      publisher.publish(
        Array.from({ length: 7 }, (_, i) => ({ topic: 't', key: `k${i}`, payload: i })),
        { manager },
      ),
    );
    const relay = makeRelay({ batchSize: 3 });
    const drained = relay.flush();
    await waitFor(() => relay.metrics().claimed === 6, 5_000, 'the second claim during the first send');
    expect(transport.calls).toHaveLength(1);
    hold.open();
    await drained;
    expect(most).toBe(1);
    expect(relay.metrics()).toMatchObject({ claimed: 7, sent: 7 });
    expect((await db.rows()).every((row) => row.status === 'sent')).toBe(true);
  });

  it('starts no publish once half of the lease has passed, and gives those rows back untried', async () => {
    let now = 0;
    transport.behaviour = () => {
      now += 40;
    };
    const ids = await publisher.transaction((manager) =>
      publisher.publish(
        Array.from({ length: 5 }, (_, n) => ({ topic: 't', key: 'k', payload: n })),
        { manager },
      ),
    );
    now = Date.now() + 1;
    const relay = new OutboxRelay({
      dataSource: db.dataSource,
      transport,
      logger: new MemoryLogger(),
      options: { leaseMs: 200 },
      clock: () => now,
    });
    relays.push(relay);
    await relay.flush();
    // Waves start at +0, +40 and +80 ms of the 200 ms lease; the fourth would start at +120: it and the fifth go
    // back, and the next claim takes them.
    expect(relay.metrics()).toMatchObject({ claimed: 7, sent: 5, failed: 0 });
    expect(transport.calls.map((call) => call.ids)).toEqual(ids.map((id) => [id]));
    expect((await db.rows()).every((row) => row.status === 'sent' && row.attempts === 0)).toBe(true);
  });

  it('claims rows up to the byte budget, always at least one, and sends the rest in later rounds', async () => {
    const big = 'x'.repeat(3_000);
    const ids = await publisher.transaction((manager) =>
      publisher.publish(
        Array.from({ length: 5 }, (_, i) => ({ topic: 't', key: i === 4 ? 'k' : `k${i}`, payload: { i, big } })),
        { manager },
      ),
    );
    const store = createOutboxStore(db.dataSource);
    const now = Date.now();
    const claim = (maxBytes: number) =>
      store.claim({ owner: 'budget', now, leaseUntil: now + 60_000, limit: 10, maxBytes });
    // Each payload is a little over 3,000 bytes: the budget stops after the row that reaches it.
    expect((await claim(6_500)).map((row) => row.id)).toEqual(ids.slice(0, 3));
    expect((await claim(1)).map((row) => row.id)).toEqual([ids[3]]);
    expect((await claim(1_000_000)).map((row) => row.id)).toEqual([ids[4]]);

    await store.releaseLeases('budget');
    const relay = makeRelay({ batchBytes: 7_000 });
    await relay.flush();
    expect(transport.calls.map((call) => call.ids.length)).toEqual([3, 2]);
    expect((await db.rows()).every((row) => row.status === 'sent')).toBe(true);
  });

  it('drains a backlog (throughput figure)', async () => {
    const total = kind === 'sqlite' ? 5_000 : 3_000;
    const messages = Array.from({ length: total }, (_, i) => ({
      topic: 'bulk',
      key: i % 2 === 0 ? undefined : `key-${i % 200}`,
      payload: { i },
    }));
    for (let start = 0; start < total; start += 1_000) {
      await publisher.transaction((manager) => publisher.publish(messages.slice(start, start + 1_000), { manager }));
    }
    const relay = makeRelay({ batchSize: 200 });
    const started = performance.now();
    await relay.flush();
    const seconds = (performance.now() - started) / 1000;
    expect(relay.metrics().sent).toBe(total);
    expect(await relay.pendingCount()).toBe(0);
    console.log(
      `[outbox-relay ${kind}] drained ${total} rows (half keyed over 200 keys) in ${seconds.toFixed(2)} s: ${Math.round(total / seconds)} rows/s`,
    );
  });
}

describe('OutboxRelay on SQLite', () => {
  relaySuite('sqlite');

  it('takes its turn between queued transactions instead of waiting for the connection to fall idle', async () => {
    const db = await TestDatabase.create('sqlite', URLS, uniqueName('rmq_relay'));
    const transport = new FakeTransport();
    const relay = new OutboxRelay({ dataSource: db.dataSource, transport, logger: new MemoryLogger() });
    const publisher = new ReliablePublisher({ dataSource: db.dataSource, transport, producerGroup: 'svc' });
    try {
      await publisher.transaction((manager) => publisher.publish({ topic: 't', payload: 0 }, { manager }));
      // Transactions that wait on something outside the database, one right after the other: between two of them
      // the connection is never idle when a timer runs, so a relay that only waited for idleness would wait for all.
      let lastCommit = 0;
      const transactions = (async () => {
        for (let i = 0; i < 40; i += 1) {
          await publisher.transaction(async (manager) => {
            await publisher.publish({ topic: 't', payload: i + 1 }, { manager });
            await new Promise((resolve) => setTimeout(resolve, 3));
          });
          lastCommit = performance.now();
        }
      })();
      await new Promise((resolve) => setTimeout(resolve, 10));
      const round = relay.flush();
      await transactions;
      await round;
      expect(transport.calls.length).toBeGreaterThan(0);
      expect(transport.calls[0]!.startedAt).toBeLessThan(lastCommit);
      await relay.flush();
      expect(await relay.pendingCount()).toBe(0);
    } finally {
      await relay.stop();
      publisher.close();
      await db.dispose();
    }
  });

  it('does not read the shared connection while the application is inside a transaction', async () => {
    const db = await TestDatabase.create('sqlite', URLS, uniqueName('rmq_relay'));
    const transport = new FakeTransport();
    const relay = new OutboxRelay({ dataSource: db.dataSource, transport, logger: new MemoryLogger() });
    const publisher = new ReliablePublisher({
      dataSource: db.dataSource,
      transport,
      producerGroup: 'svc',
      wakeRelay: () => relay.wake(),
    });
    try {
      const runner = db.dataSource.createQueryRunner();
      await runner.startTransaction();
      await publisher.publish({ topic: 't', payload: 1 }, { manager: runner.manager });
      relay.wake();
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(transport.calls).toHaveLength(0);
      await runner.commitTransaction();
      await waitFor(() => transport.calls.length === 1, 2_000, 'the send after the commit');
    } finally {
      await relay.stop();
      publisher.close();
      await db.dispose();
    }
  });
});

function lockingClaimSuite(kind: 'postgres' | 'mariadb'): void {
  it('does not claim a row while another relay is claiming the previous row of its key', async () => {
    const db = await TestDatabase.create(kind, URLS, uniqueName('rmq_claim'));
    const publisher = new ReliablePublisher({
      dataSource: db.dataSource,
      transport: new FakeTransport(),
      producerGroup: 'svc',
    });
    const other = await db.open();
    const runner = other.createQueryRunner();
    try {
      const ids = await publisher.transaction((manager) =>
        publisher.publish(
          [
            { topic: 't', key: 'k', payload: 0 },
            { topic: 't', key: 'k', payload: 1 },
            { topic: 't', key: 'j', payload: 2 },
          ],
          { manager },
        ),
      );
      // Another relay's claim in progress: it holds the first row of `k` locked and has not written its lease yet.
      await runner.connect();
      await runner.startTransaction('READ COMMITTED');
      await runner.query(`SELECT seq FROM ${outboxTable(db)} WHERE id = ${db.param(1)} FOR UPDATE`, [ids[0]]);
      const store = createOutboxStore(db.dataSource);
      const now = Date.now();
      const claimed = await store.claim({
        owner: 'relay-b',
        now,
        leaseUntil: now + 60_000,
        limit: 10,
        maxBytes: 1_000_000,
      });
      expect(claimed.map((row) => row.id)).toEqual([ids[2]]);
      await runner.commitTransaction();
      const later = await store.claim({
        owner: 'relay-b',
        now,
        leaseUntil: now + 60_000,
        limit: 10,
        maxBytes: 1_000_000,
      });
      expect(later.map((row) => row.id)).toEqual([ids[0], ids[1]]);
      expect(await store.release('relay-b', [later[1]!.seq])).toBe(1);
      expect((await db.rows())[1]).toMatchObject({ leaseOwner: null, leaseUntil: null, attempts: 0 });
    } finally {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      await runner.release();
      publisher.close();
      await db.dispose();
    }
  });
}

describeWithService('postgres', 'OutboxRelay on PostgreSQL', () => relaySuite('postgres'));
describeWithService('mariadb', 'OutboxRelay on MariaDB', () => relaySuite('mariadb'));
describeWithService('postgres', 'Outbox claims on PostgreSQL', () => lockingClaimSuite('postgres'));
describeWithService('mariadb', 'Outbox claims on MariaDB', () => lockingClaimSuite('mariadb'));
