import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RemoteTransport, type RelayOptions } from '@reliable-mq/nestjs';
import { BrokerProcess, TEST_BROKER_TOKEN } from '../support/broker-process';
import { freePort } from '../support/free-port';
import { DrainWatch, ORDERS_TOPIC, OrderApp, expectRecoveredFromOutage, tally } from '../support/order-outage-app';
import { TestDatabase } from '../support/outbox-test-kit';
import { waitUntil } from '../support/wait-until';

/**
 * An application on the standalone broker (remote transport, SQLite outbox) while the broker is away:
 * - it starts without the broker, commits orders into the outbox, and delivers each once the broker starts;
 * - an outage longer than the relay's whole retry budget (maxAttempts × backoffMaxMs), with orders committed
 *   throughout and a 10,000-row backlog, kills no row; draining starts within a second of the broker's return and
 *   every order is applied once. The figures are printed.
 */

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A small retry budget, so that an outage of a few seconds is many times longer than all of it. */
const RELAY: RelayOptions = { maxAttempts: 3, backoffBaseMs: 50, backoffMaxMs: 200 };
const BUDGET_MS = 3 * 200;

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function startBroker(dataDir: string, port: number): Promise<BrokerProcess> {
  const broker = await BrokerProcess.start({ dataDir, port });
  cleanups.push(() => broker.kill());
  return broker;
}

async function startApp(port: number): Promise<OrderApp> {
  const db = await TestDatabase.create('sqlite', { postgres: '', mariadb: '' }, 'outage');
  cleanups.push(() => db.dispose());
  const app = await OrderApp.start({
    dataSource: db.dataSource,
    transport: {
      kind: 'remote',
      url: `reliable-mq://127.0.0.1:${port}`,
      token: TEST_BROKER_TOKEN,
      topics: [{ name: ORDERS_TOPIC, queueCount: 4 }],
    },
    relay: RELAY,
  });
  cleanups.push(() => app.close());
  return app;
}

const seconds = (ms: number | null): string => (ms === null ? 'n/a' : `${(ms / 1000).toFixed(3)} s`);

describe('the standalone broker away', () => {
  it('starts without the broker, keeps orders in the outbox, and delivers each once the broker starts', async () => {
    const port = await freePort();
    const startedAt = Date.now();
    const app = await startApp(port);
    const startupMs = Date.now() - startedAt;
    expect(startupMs).toBeLessThan(5_000);
    expect((app.transport as RemoteTransport).isConnected).toBe(false);
    expect(app.log.has('ReliableMqBroker', /is not reachable .*starting without it/)).toBe(true);
    expect(app.log.has('ReliableMqConsumers', /not reachable yet: 1 handler\(s\) start consuming/)).toBe(true);

    const placed = await app.placeOrders(300, 10);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await app.outboxStatuses()).toEqual({ pending: 300 });
    expect(await app.maxAttempts()).toBe(0);
    expect(app.ledger.times).toHaveLength(0);

    const broker = await startBroker(tempDir('rmq-outage-'), port);
    const watch = new DrainWatch(app, Date.now());
    await waitUntil(() => app.ledger.effects.size === placed.length, 'every order', 20_000);
    const figures = watch.stop();
    const allMs = Math.max(...app.ledger.times) - watch.since;
    await new Promise((resolve) => setTimeout(resolve, 300));

    const counts = tally(placed, app.ledger);
    console.log(
      `[broker down at startup] startup ${seconds(startupMs)}; after the broker's ready line: connected ` +
        `${seconds(figures.reconnectMs)}, first claim ${seconds(figures.firstClaimedMs)}, first batch confirmed ${seconds(figures.firstSentMs)}, first order handled ` +
        `${seconds(figures.firstHandledMs)}, all ${placed.length} handled ${seconds(allMs)}; ` +
        `once ${counts.once}, more than once ${counts.twice}, lost ${counts.lost}, redeliveries absorbed ${app.duplicates}`,
    );
    expect(counts).toEqual({ once: placed.length, twice: 0, lost: 0 });
    expect(app.duplicates).toBe(0);
    expect(await app.outboxStatuses()).toEqual({ sent: 300 });
    expect(await app.maxAttempts()).toBe(0);
    expect(
      app.log.has('ReliableMqBroker', /Connected to the broker at .*: the relay and the consumers attach now/),
    ).toBe(true);
    expect(app.log.has('ReliableMqConsumers', /consumes "orders" as group "billing"/)).toBe(true);
    expect(
      app.log.has(
        'OutboxRelay',
        /The broker is reachable again after .*: sending the \d+ outbox row\(s\) that waited for it/,
      ),
    ).toBe(true);
    expect(broker.running).toBe(true);
  }, 60_000);

  it('outlives a SIGKILLed broker far past the retry budget: no row dead, all once, draining within 1 s', async () => {
    const port = await freePort();
    const dataDir = tempDir('rmq-outage-');
    let broker = await startBroker(dataDir, port);
    const app = await startApp(port);
    expect((app.transport as RemoteTransport).isConnected).toBe(true);
    const placed = await app.placeOrders(20);
    await waitUntil(() => app.ledger.effects.size === 20, 'the first orders');

    // Orders keep coming, one business transaction every 10 ms, whatever happens to the broker.
    let producing = true;
    const producer = (async () => {
      while (producing) {
        placed.push(...(await app.placeOrders(1)));
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 300));

    await broker.kill();
    const downAt = Date.now();
    await waitUntil(() => !app.transport.isConnected, 'the transport to notice');
    // A backlog of 10,000 rows on top of the steady stream.
    placed.push(...(await app.placeOrders(10_000, 500)));
    const outageTarget = Math.max(4_000, BUDGET_MS * 6);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, outageTarget - (Date.now() - downAt))));
    const statusesDuringOutage = await app.outboxStatuses();
    const attemptsDuringOutage = await app.maxAttempts();

    broker = await startBroker(dataDir, port);
    const backAt = Date.now();
    const outageMs = backAt - downAt;
    const watch = new DrainWatch(app, backAt);
    const pendingAtReturn = await app.relay.pendingCount();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    producing = false;
    await producer;

    await waitUntil(() => app.ledger.effects.size === placed.length, 'every order', 40_000, 50);
    const figures = watch.stop();
    await waitUntil(async () => (await app.relay.pendingCount()) === 0, 'the outbox to empty', 5_000, 50);
    const lastHandled = Math.max(...app.ledger.times);
    const afterReturn = app.ledger.times.filter((time) => time >= backAt);
    const drainMs = lastHandled - (watch.firstSentAt ?? backAt);
    await new Promise((resolve) => setTimeout(resolve, 300));

    const counts = tally(placed, app.ledger);
    const statuses = await app.outboxStatuses();
    console.log(
      `[broker SIGKILLed] outage ${seconds(outageMs)} (retry budget ${BUDGET_MS} ms), ${placed.length} orders, ` +
        `${pendingAtReturn} rows waiting at the return (during the outage: ${JSON.stringify(statusesDuringOutage)}, ` +
        `highest attempts ${attemptsDuringOutage}); after the broker's ready line: reconnected ` +
        `${seconds(figures.reconnectMs)}, first claim ${seconds(figures.firstClaimedMs)}, first batch confirmed ${seconds(figures.firstSentMs)}, first order handled ` +
        `${seconds(figures.firstHandledMs)}; ${afterReturn.length} handled in ${seconds(drainMs)} ` +
        `(${Math.round(afterReturn.length / (drainMs / 1000))}/s end to end); once ${counts.once}, more than once ` +
        `${counts.twice}, lost ${counts.lost}, redeliveries absorbed ${app.duplicates}; outbox ${JSON.stringify(statuses)}`,
    );
    // The relay's log tells the outage once each way: its start, and its end with how long it lasted and the rows
    // that waited for it.
    const outageLines = app.log.lines.filter(
      (line) => line.context === 'OutboxRelay' && /^The broker is (unreachable|reachable again)/.test(line.message),
    );
    console.log(`[broker SIGKILLed] the relay's log: ${outageLines.map((line) => line.message).join(' | ')}`);
    expect(outageLines).toHaveLength(2);
    expect(outageLines[0]!.message).toMatch(/^The broker is unreachable/);
    const end = /^The broker is reachable again after ([\d.]+) s: sending the (\d+) outbox row\(s\)/.exec(
      outageLines[1]!.message,
    );
    expect(end).not.toBeNull();
    expect(Number(end![2])).toBeGreaterThanOrEqual(10_000);
    expect(pendingAtReturn).toBeGreaterThanOrEqual(10_000);
    // The first batch's confirm and the first handled order are printed above.
    expectRecoveredFromOutage({
      outageMs,
      budgetMs: BUDGET_MS,
      statusesDuringOutage,
      attemptsDuringOutage,
      placed,
      counts,
      statuses,
      figures,
    });
  }, 60_000);
});
