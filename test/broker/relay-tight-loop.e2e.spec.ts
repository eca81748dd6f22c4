import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { TransportOptions } from '@reliable-mq/nestjs';
import { BrokerProcess, TEST_BROKER_TOKEN } from '../support/broker-process';
import { ORDERS_TOPIC, OrderApp, tally } from '../support/order-outage-app';
import { TestDatabase } from '../support/outbox-test-kit';
import { waitUntil } from '../support/wait-until';

/**
 * A producer committing on SQLite in a tight loop, `for (;;) await publisher.transaction(…)`, with the relay and a
 * consumer in the same process. better-sqlite3 never waits for I/O, so such a loop is one unbroken chain of
 * microtasks: no timer, socket or `setImmediate` callback runs while it lasts. Before the DataSource's transaction
 * lock let the event loop turn, the relay (woken by `setImmediate`, confirmed over a socket) sent nothing until the
 * loop ended. Here messages must reach the consumer while the loop runs: the first within a bounded time of its
 * start, more in every second of it, and a steady share of what it commits. The figures are printed.
 */

const LOOP_MS = 4_000;
const SECOND = 1_000;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function startApp(transport: TransportOptions): Promise<OrderApp> {
  const db = await TestDatabase.create('sqlite', { postgres: '', mariadb: '' }, 'tight-loop');
  cleanups.push(() => db.dispose());
  const app = await OrderApp.start({ dataSource: db.dataSource, transport });
  cleanups.push(() => app.close());
  return app;
}

interface LoopFigures {
  committed: number;
  loopMs: number;
  sentDuring: number;
  handledDuring: number;
  firstSentMs: number | null;
  firstHandledMs: number | null;
  /** Orders handled in each whole second of the loop. */
  handledPerSecond: number[];
}

/**
 * Commits one order per transaction, back to back, for LOOP_MS. What the relay and the consumer did meanwhile is
 * read between the transactions: a timer would not run during the loop if it starved them.
 */
async function tightLoop(app: OrderApp): Promise<{ placed: string[]; figures: LoopFigures }> {
  const placed: string[] = [];
  const sentBefore = app.relay.metrics()!.sent;
  const handledBefore = app.ledger.times.length;
  let firstSentAt: number | undefined;
  const start = Date.now();
  let now = start;
  while (now - start < LOOP_MS) {
    placed.push(...(await app.placeOrders(1)));
    now = Date.now();
    if (firstSentAt === undefined && app.relay.metrics()!.sent > sentBefore) firstSentAt = now;
  }
  const handled = app.ledger.times.slice(handledBefore).filter((time) => time <= now);
  const handledPerSecond = Array.from<number>({ length: Math.floor(LOOP_MS / SECOND) }).fill(0);
  for (const time of handled) {
    const second = Math.floor((time - start) / SECOND);
    if (second < handledPerSecond.length) handledPerSecond[second]! += 1;
  }
  return {
    placed,
    figures: {
      committed: placed.length,
      loopMs: now - start,
      sentDuring: app.relay.metrics()!.sent - sentBefore,
      handledDuring: handled.length,
      firstSentMs: firstSentAt === undefined ? null : firstSentAt - start,
      firstHandledMs: handled.length === 0 ? null : handled[0]! - start,
      handledPerSecond,
    },
  };
}

async function runAndCheck(label: string, app: OrderApp): Promise<void> {
  // Warm: the consumer is attached and the first round trip is behind us.
  const warm = await app.placeOrders(5);
  await waitUntil(() => app.ledger.effects.size === warm.length, 'the first orders');

  const { placed, figures } = await tightLoop(app);
  const loopEnd = Date.now();
  await waitUntil(() => app.ledger.effects.size === warm.length + placed.length, 'every order', 60_000, 20);
  const afterLoopMs = Date.now() - loopEnd;
  const counts = tally([...warm, ...placed], app.ledger);
  const share = figures.handledDuring / figures.committed;
  console.log(
    `[${label}] tight loop of ${figures.committed} transactions in ${figures.loopMs} ms ` +
      `(${Math.round(figures.committed / (figures.loopMs / 1000))}/s); during it: ${figures.sentDuring} rows confirmed, ` +
      `${figures.handledDuring} orders handled (${(share * 100).toFixed(1)}%), first confirmed after ` +
      `${figures.firstSentMs ?? 'n/a'} ms, first handled after ${figures.firstHandledMs ?? 'n/a'} ms, handled per ` +
      `second ${JSON.stringify(figures.handledPerSecond)}; the rest handled ${afterLoopMs} ms after the loop; ` +
      `once ${counts.once}, more than once ${counts.twice}, lost ${counts.lost}`,
  );
  expect(figures.firstSentMs).not.toBeNull();
  expect(figures.firstSentMs!).toBeLessThan(1_000);
  expect(figures.firstHandledMs).not.toBeNull();
  expect(figures.firstHandledMs!).toBeLessThan(1_500);
  for (const perSecond of figures.handledPerSecond) expect(perSecond).toBeGreaterThan(0);
  expect(share).toBeGreaterThan(0.25);
  expect(counts).toEqual({ once: warm.length + placed.length, twice: 0, lost: 0 });
}

describe('a tight loop of business transactions on SQLite', () => {
  it('does not starve the relay: the standalone broker receives and delivers while the loop runs', async () => {
    const broker = await BrokerProcess.start({ dataDir: tempDir('rmq-tight-loop-') });
    cleanups.push(() => broker.kill());
    const app = await startApp({
      kind: 'remote',
      url: broker.url,
      token: TEST_BROKER_TOKEN,
      topics: [{ name: ORDERS_TOPIC, queueCount: 4 }],
    });
    await runAndCheck('standalone broker', app);
  }, 90_000);

  it('does not starve the relay: the embedded engine receives and delivers while the loop runs', async () => {
    const app = await startApp({
      kind: 'embedded',
      dataDir: join(tempDir('rmq-tight-loop-'), 'broker'),
      engine: { minFreeDiskBytes: 0, autoCreateTopics: true },
    });
    await runAndCheck('embedded engine', app);
  }, 90_000);
});
