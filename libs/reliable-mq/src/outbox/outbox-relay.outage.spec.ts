import { UnknownTopicError } from '@reliable-mq/engine';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TransportError } from '../errors/transport.error';
import { TransportUnavailableError } from '../errors/transport-unavailable.error';
import { ReliablePublisher } from '../producing/reliable-publisher.service';
import type { RelayOptions } from '../reliable-mq-options.interface';
import { ConnectionListeners } from '../transport/connection-listeners';
import type { ConnectionListener } from '../transport/transport.interface';
import { OutboxRelay } from './outbox-relay';
import { FakeTransport, MemoryLogger, TestDatabase, waitFor } from '../../../../test/support/outbox-test-kit';

/**
 * The relay during broker outages: unavailability is not the rows' fault. Nothing is claimed while the transport
 * reports no connection, a send cut off by the connection's loss counts no attempt, and the transport's news of a
 * new connection wakes the relay at once. Answers about a message still count as before.
 */

/** A transport double that reports connection state, as the remote and RabbitMQ transports do. */
class SwitchableTransport extends FakeTransport {
  private connected = true;
  private readonly listeners = new ConnectionListeners();

  constructor() {
    super('switchable');
    this.listeners.report(true);
  }

  get isConnected(): boolean {
    return this.connected;
  }

  onConnectionChange(listener: ConnectionListener): () => void {
    return this.listeners.add(listener);
  }

  setConnected(connected: boolean): void {
    this.connected = connected;
    this.listeners.report(connected);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('OutboxRelay during broker outages (SQLite)', () => {
  let db: TestDatabase;
  let transport: SwitchableTransport;
  let publisher: ReliablePublisher;
  let logger: MemoryLogger;
  const relays: OutboxRelay[] = [];

  function makeRelay(options: RelayOptions, on: FakeTransport = transport): OutboxRelay {
    const relay = new OutboxRelay({ dataSource: db.dataSource, transport: on, logger, options });
    relays.push(relay);
    publisher.setWakeRelay(() => relay.wake());
    return relay;
  }

  async function commit(count: number, keys = 5, topic = 'orders'): Promise<string[]> {
    return publisher.transaction((manager) =>
      publisher.publish(
        Array.from({ length: count }, (_, index) => ({ topic, key: `k${index % keys}`, payload: { index } })),
        { manager },
      ),
    );
  }

  beforeEach(async () => {
    db = await TestDatabase.create('sqlite', { postgres: '', mariadb: '' }, 'outage');
    transport = new SwitchableTransport();
    logger = new MemoryLogger();
    publisher = new ReliablePublisher({ dataSource: db.dataSource, transport, producerGroup: 'order-service' });
  });

  afterEach(async () => {
    await Promise.all(relays.splice(0).map((relay) => relay.stop()));
    publisher.close();
    await db.dispose();
  });

  it('kills no row in an outage far longer than maxAttempts × backoffMaxMs, and drains when the broker is back', async () => {
    const relay = makeRelay({ maxAttempts: 2, backoffBaseMs: 10, backoffMaxMs: 20, sweepCron: '* * * * * *' });
    relay.start();
    const downAt = Date.now();
    transport.setConnected(false);
    transport.behaviour = () => {
      throw new TransportUnavailableError('Not connected to the broker; reconnecting.');
    };
    const ids = [...(await commit(30)), ...(await commit(30))];
    // 60 × the whole retry budget of a row, and at least one sweep.
    await sleep(1_200);
    let rows = await db.rows();
    expect(rows.every((row) => row.status === 'pending' && row.attempts === 0 && row.leaseOwner === null)).toBe(true);
    // Nothing was even tried: the transport said it had no connection.
    expect(transport.calls).toHaveLength(0);
    // One line for the outage's start, however many rounds and sweeps it lasted.
    expect(logger.lines.filter((line) => /The broker is unreachable/.test(line.message))).toHaveLength(1);
    const during = await relay.status();
    expect(during).toMatchObject({ transportConnected: false, rowsHeldForBroker: 60 });
    expect(during.disconnectedSince).toBeGreaterThanOrEqual(downAt);
    expect(during.disconnectedSince).toBeLessThanOrEqual(downAt + 50);
    expect(during.oldestPendingAgeMs).toBeGreaterThanOrEqual(1_000);

    transport.behaviour = undefined;
    const backAt = Date.now();
    transport.setConnected(true);
    await waitFor(async () => (await db.rows()).every((row) => row.status === 'sent'), 5_000, 'the drain');
    // Woken by the connection news, not by the sweep (every second here).
    expect(Date.now() - backAt).toBeLessThan(900);
    rows = await db.rows();
    expect(rows.map((row) => row.id)).toEqual(ids);
    expect(rows.every((row) => row.attempts === 0)).toBe(true);
    expect(relay.metrics()).toMatchObject({ failed: 0, dead: 0, sent: 60 });
    // And one for its end, with how long it lasted and the rows that waited, counted at the return.
    const ends = logger.lines.filter((line) => /^The broker is reachable again/.test(line.message));
    expect(ends).toHaveLength(1);
    expect(ends[0]!.message).toMatch(
      /^The broker is reachable again after 1\.\d s: sending the 60 outbox row\(s\) that waited for it\.$/,
    );
    expect(await relay.status()).toEqual({
      transportConnected: true,
      disconnectedSince: null,
      rowsHeldForBroker: 0,
      oldestPendingAgeMs: null,
    });
  });

  it('gives back a batch cut off by the connection loss without an attempt, and sends it again in key order', async () => {
    const relay = makeRelay({ maxAttempts: 1, sweepCron: '*/30 * * * * *' });
    let cut = false;
    transport.behaviour = async () => {
      if (cut) return;
      cut = true;
      transport.setConnected(false);
      throw new TransportUnavailableError('The connection to the broker was lost before it answered "publish".');
    };
    relay.start();
    const ids = await commit(12, 3);
    await waitFor(() => transport.calls.length >= 1, 2_000, 'the cut-off send');
    await relay.flush();
    let rows = await db.rows();
    // maxAttempts 1: a counted attempt would have killed them.
    expect(rows.every((row) => row.status === 'pending' && row.attempts === 0 && row.lastError === null)).toBe(true);
    expect(relay.metrics().heldForBroker).toBeGreaterThan(0);

    transport.setConnected(true);
    await waitFor(async () => (await db.rows()).every((row) => row.status === 'sent'), 5_000, 'the resend');
    rows = await db.rows();
    expect(rows.every((row) => row.attempts === 0)).toBe(true);
    // The first batch may have reached the broker before the cut: it goes again (ids let the broker drop the copy),
    // and each key's rows still go out in order.
    const firstConfirm: string[] = [];
    for (const message of transport.recorder.confirmed())
      if (!firstConfirm.includes(message.id)) firstConfirm.push(message.id);
    for (const key of ['k0', 'k1', 'k2']) {
      const expected = rows.filter((row) => row.key === key).map((row) => row.id);
      expect(firstConfirm.filter((id) => expected.includes(id))).toEqual(expected);
    }
    expect(firstConfirm.sort()).toEqual([...ids].sort());
  });

  it('counts no attempt for a timeout that ends after the connection is gone', async () => {
    const relay = makeRelay({ maxAttempts: 1, sweepCron: '*/30 * * * * *' });
    transport.behaviour = async () => {
      transport.setConnected(false);
      throw new TransportError('The broker did not answer "publish" within 30000 ms; it may or may not have done it.');
    };
    relay.start();
    await commit(3);
    await waitFor(() => transport.calls.length >= 1, 2_000, 'the timed-out send');
    await relay.flush();
    expect((await db.rows()).every((row) => row.status === 'pending' && row.attempts === 0)).toBe(true);
    expect(relay.metrics().failed).toBe(0);
  });

  it("still counts the broker's answers about a message, while connected, up to dead", async () => {
    const relay = makeRelay({ maxAttempts: 2, backoffBaseMs: 20, backoffMaxMs: 40, sweepCron: '* * * * * *' });
    transport.behaviour = (batch) => {
      if (batch.some((message) => message.topic === 'nowhere')) throw new UnknownTopicError('nowhere');
    };
    relay.start();
    const [refused] = await commit(1, 1, 'nowhere');
    await waitFor(
      async () => (await db.rows()).find((row) => row.id === refused)!.status === 'dead',
      5_000,
      'the refused row to die',
    );
    expect((await db.rows()).find((row) => row.id === refused)).toMatchObject({ status: 'dead', attempts: 2 });
  });

  it('with a transport that reports no state, gives rows back on unavailability and tries again shortly', async () => {
    const stateless = new FakeTransport('stateless');
    let refusals = 3;
    stateless.behaviour = () => {
      if (refusals-- > 0) throw new TransportUnavailableError('Not connected to the broker; reconnecting.');
    };
    const relay = makeRelay({ maxAttempts: 1, sweepCron: '*/30 * * * * *' }, stateless);
    relay.start();
    expect((await relay.status()).transportConnected).toBe(true);
    await commit(4);
    await waitFor(() => relay.metrics().heldForBroker > 0, 2_000, 'the first refusal');
    // A transport that reports no state is taken to be away from a send that could not reach it.
    expect(await relay.status()).toMatchObject({ transportConnected: false, rowsHeldForBroker: 4 });
    await waitFor(async () => (await db.rows()).every((row) => row.status === 'sent'), 5_000, 'the retries');
    expect((await db.rows()).every((row) => row.attempts === 0)).toBe(true);
    expect(relay.metrics()).toMatchObject({ failed: 0, dead: 0 });
    expect(await relay.status()).toMatchObject({ transportConnected: true, disconnectedSince: null });
    const outageLines = logger.lines.filter((line) => /The broker is (unreachable|reachable again)/.test(line.message));
    expect(outageLines.map((line) => line.message.slice(0, 30))).toEqual([
      'The broker is unreachable: out',
      'The broker is reachable again ',
    ]);
    expect(outageLines[0]!.message).toMatch(/4 outbox row\(s\) could not be sent: .*Not connected to the broker/);
  });

  it("gives up a publish that never answers a lease after the rows' lease, and sends them again without an attempt", async () => {
    // A confirm lost with a connection that died mid-call: the call never settles. Without a bound the relay would
    // wait on it for as long as the process lives, and every later row with it.
    let hang = true;
    transport.behaviour = () => (hang ? new Promise<void>(() => undefined) : undefined);
    const relay = makeRelay({ maxAttempts: 1, leaseMs: 400, sweepCron: '*/30 * * * * *' });
    relay.start();
    const ids = await commit(6, 3);
    await waitFor(() => transport.calls.length > 0, 2_000, 'the first publish');
    const startedAt = Date.now();
    hang = false;
    await waitFor(async () => (await db.rows()).every((row) => row.status === 'sent'), 10_000, 'the rows to go out');
    // Not before the lease and 5 s more ended (the least a publish is waited for past its lease); and soon after (the sweep is 30 s away: the relay went on by itself).
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(5_000);
    expect(Date.now() - startedAt).toBeLessThan(8_000);
    const rows = await db.rows();
    expect(rows.map((row) => row.id)).toEqual(ids);
    expect(rows.every((row) => row.attempts === 0)).toBe(true);
    expect(relay.metrics()).toMatchObject({ failed: 0, dead: 0, sent: 6 });
    expect(relay.metrics().heldForBroker).toBeGreaterThan(0);
    expect(
      logger.lines.some((line) =>
        /did not answer a publish of \d+ outbox row\(s\) within \d+ ms \(the rest of the rows' lease, then one lease more, at least 5 s\)/.test(
          line.message,
        ),
      ),
    ).toBe(true);
  });
});
