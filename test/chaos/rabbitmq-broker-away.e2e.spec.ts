import { afterEach, expect, it } from 'vitest';
import type { RabbitMqTransport, RelayOptions } from '@reliable-mq/nestjs';
import { CuttableTcpProxy } from '../support/cuttable-tcp-proxy';
import { DrainWatch, ORDERS_TOPIC, OrderApp, expectRecoveredFromOutage, tally } from '../support/order-outage-app';
import { TestDatabase } from '../support/outbox-test-kit';
import { deleteRabbitMqObjects } from '../support/rabbitmq-admin';
import {
  MARIADB_URL,
  POSTGRES_URL,
  RABBITMQ_URL,
  describeWithService,
  serviceEndpoint,
  uniqueName,
} from '../support/services';
import { waitUntil } from '../support/wait-until';

/**
 * An application on RabbitMQ (PostgreSQL outbox) while RabbitMQ is away, through a TCP proxy the test owns in front
 * of the shared server (which is never touched): the proxy refuses connections until it is opened, and a cut
 * destroys every connection through it.
 * - The application starts while the proxy refuses, commits orders into the outbox, and delivers each once the
 *   proxy opens.
 * - A cut longer than the relay's whole retry budget (maxAttempts × backoffMaxMs), with orders committed throughout
 *   and a backlog of 10,000 rows, kills no row; draining starts within a second of the return, every order is
 *   applied once. The figures are printed.
 */

const RELAY: RelayOptions = { maxAttempts: 3, backoffBaseMs: 50, backoffMaxMs: 200 };
const BUDGET_MS = 3 * 200;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const seconds = (ms: number | null): string => (ms === null ? 'n/a' : `${(ms / 1000).toFixed(3)} s`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describeWithService(['rabbitmq', 'postgres'], 'RabbitMQ away', () => {
  it('starts while RabbitMQ refuses, delivers every order once it is reachable, and outlives a cut past the retry budget', async () => {
    const proxy = new CuttableTcpProxy(serviceEndpoint('rabbitmq'));
    await proxy.start();
    cleanups.push(() => proxy.stop());
    proxy.cut();

    const db = await TestDatabase.create(
      'postgres',
      { postgres: POSTGRES_URL, mariadb: MARIADB_URL },
      uniqueName('rmq_away'),
    );
    cleanups.push(() => db.dispose());
    const startedAt = Date.now();
    const app = await OrderApp.start({
      dataSource: db.dataSource,
      transport: {
        kind: 'rabbitmq',
        url: proxy.urlFor(RABBITMQ_URL),
        prefix: uniqueName('rmqa'),
        topics: [ORDERS_TOPIC],
        heartbeatSeconds: 2,
      },
      relay: RELAY,
    });
    const rabbit = app.transport as RabbitMqTransport;
    cleanups.push(async () => {
      await app.close();
      await deleteRabbitMqObjects(rabbit.declaredTopology());
    });
    const startupMs = Date.now() - startedAt;
    expect(startupMs).toBeLessThan(5_000);
    expect(rabbit.isConnected).toBe(false);
    expect(app.log.has('ReliableMqBroker', /RabbitMQ at .* is not reachable .*starting without it/)).toBe(true);

    // Part 1: orders committed while RabbitMQ cannot be reached.
    const placed = await app.placeOrders(300, 10);
    await sleep(1_000);
    expect(await app.outboxStatuses()).toEqual({ pending: 300 });
    expect(await app.maxAttempts()).toBe(0);

    proxy.restore();
    const openedAt = Date.now();
    const first = new DrainWatch(app, openedAt);
    await waitUntil(() => app.ledger.effects.size === placed.length, 'the orders committed before RabbitMQ', 20_000);
    const firstFigures = first.stop();
    const firstAllMs = Math.max(...app.ledger.times) - openedAt;
    expect(tally(placed, app.ledger)).toEqual({ once: placed.length, twice: 0, lost: 0 });
    expect(app.log.has('ReliableMqBroker', /Connected to RabbitMQ at .*: the relay and the consumers attach now/)).toBe(
      true,
    );
    // The subscription takes messages before its subscribe call has returned, and logged.
    await waitUntil(() => app.log.has('ReliableMqConsumers', /consumes "orders" as group "billing"/), 'the log line');
    console.log(
      `[RabbitMQ unreachable at startup] startup ${seconds(startupMs)}; after the proxy opened: connected ` +
        `${seconds(firstFigures.reconnectMs)}, first claim ${seconds(firstFigures.firstClaimedMs)}, first batch confirmed ${seconds(firstFigures.firstSentMs)}, first order ` +
        `handled ${seconds(firstFigures.firstHandledMs)}, all ${placed.length} handled ${seconds(firstAllMs)}`,
    );

    // Part 2: a cut while orders keep coming, many times longer than the retry budget, plus a backlog.
    let producing = true;
    const producer = (async () => {
      while (producing) {
        placed.push(...(await app.placeOrders(1)));
        await sleep(10);
      }
    })();
    await sleep(300);
    proxy.cut();
    const cutAt = Date.now();
    await waitUntil(() => !rabbit.isConnected, 'the transport to notice the cut');
    placed.push(...(await app.placeOrders(10_000, 500)));
    await sleep(Math.max(0, Math.max(4_000, BUDGET_MS * 6) - (Date.now() - cutAt)));
    const statusesDuringCut = await app.outboxStatuses();
    const attemptsDuringCut = await app.maxAttempts();

    proxy.restore();
    const backAt = Date.now();
    const cutMs = backAt - cutAt;
    const watch = new DrainWatch(app, backAt);
    await sleep(1_000);
    producing = false;
    await producer;
    await waitUntil(() => app.ledger.effects.size === new Set(placed).size, 'every order', 40_000, 50);
    const figures = watch.stop();
    await waitUntil(async () => (await app.relay.pendingCount()) === 0, 'the outbox to empty', 5_000, 50);
    const afterReturn = app.ledger.times.filter((time) => time >= backAt);
    const drainMs = Math.max(...app.ledger.times) - (watch.firstSentAt ?? backAt);
    await sleep(500);

    const counts = tally(placed, app.ledger);
    const statuses = await app.outboxStatuses();
    console.log(
      `[RabbitMQ cut] cut ${seconds(cutMs)} (retry budget ${BUDGET_MS} ms), ${placed.length} orders (during the cut: ` +
        `${JSON.stringify(statusesDuringCut)}, highest attempts ${attemptsDuringCut}); after the return: reconnected ` +
        `${seconds(figures.reconnectMs)}, first claim ${seconds(figures.firstClaimedMs)}, first batch confirmed ${seconds(figures.firstSentMs)}, first order handled ` +
        `${seconds(figures.firstHandledMs)}; ${afterReturn.length} handled in ${seconds(drainMs)} ` +
        `(${Math.round(afterReturn.length / (drainMs / 1000))}/s end to end); once ${counts.once}, more than once ` +
        `${counts.twice}, lost ${counts.lost}, redeliveries absorbed ${app.duplicates}; outbox ${JSON.stringify(statuses)}`,
    );
    // The first batch's confirm and the first handled order are printed above.
    expectRecoveredFromOutage({
      outageMs: cutMs,
      budgetMs: BUDGET_MS,
      statusesDuringOutage: statusesDuringCut,
      attemptsDuringOutage: attemptsDuringCut,
      placed,
      counts,
      statuses,
      figures,
    });
  }, 60_000);
});
