import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { afterEach, expect, it } from 'vitest';
import {
  ConsumerRunner,
  MqConsumer,
  OutboxRelayService,
  ReliableMqModule,
  ReliablePublisher,
  type MessageContext,
} from '@reliable-mq/nestjs';
import { BrokerProcess, TEST_BROKER_TOKEN } from '../support/broker-process';
import { freePort } from '../support/free-port';
import { CapturedLog } from '../support/order-outage-app';
import { TestDatabase } from '../support/outbox-test-kit';
import { randomIntBetween, seededRandom, seedFromEnv } from '../support/seeded-random';
import { waitUntil } from '../support/wait-until';

/**
 * The standalone broker flapping: SIGKILLed every few seconds for a minute, and started again each time on the same
 * port and data directory, while an application (remote transport, SQLite outbox, a consumer deduplicated in the
 * database) commits an order every few milliseconds throughout. The handler writes one effect row per delivery in
 * the dedup store's transaction, and the table has no uniqueness, so a second application of an order would show.
 *
 * - 0 orders lost, 0 applied twice, no outbox row dead or left unsent;
 * - commit-to-effect p99 under 5 s for the orders committed after the broker's last return;
 * - printed: every kill and return, the time from each return to the first effect after it, and the percentiles.
 *
 * FLAP_SEED replays a schedule. The whole run is bounded to about 75 s on a loaded two-core machine: the flapping
 * stops starting new cycles after FLAP_MS, however few a slow machine allowed.
 */

const FLAP_MS = 55_000;
const UP_MS = [1_500, 4_000] as const;
const DOWN_MS = [200, 1_500] as const;
const AFTER_LAST_RETURN_MS = 6_000;
const ORDER_EVERY_MS = 10;
const SEED = seedFromEnv('FLAP_SEED');

const TOPIC = 'orders.flap';
const GROUP = 'fulfilment';

@Injectable()
class Fulfilment {
  @MqConsumer<{ orderId: string }>({
    topic: TOPIC,
    group: GROUP,
    startFrom: 'earliest',
    dedupKey: (payload) => payload.orderId,
  })
  async onOrder(payload: { orderId: string }, ctx: MessageContext): Promise<void> {
    if (!ctx.manager) throw new Error('the db dedup store handed the handler no transaction');
    await ctx.manager.query('INSERT INTO flap_effects (order_id, written_at) VALUES (?, ?)', [
      payload.orderId,
      Date.now(),
    ]);
  }
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const ms = (value: number): string => (Number.isNaN(value) ? 'n/a' : `${Math.round(value)} ms`);

it('a broker SIGKILLed every few seconds for a minute: every order applied once, p99 after the last return < 5 s', async () => {
  const random = seededRandom(SEED);
  const dataDir = mkdtempSync(join(tmpdir(), 'rmq-flap-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const port = await freePort();
  let broker = await BrokerProcess.start({ dataDir, port });
  cleanups.push(() => broker.kill());

  const db = await TestDatabase.create('sqlite', { postgres: '', mariadb: '' }, 'flap');
  cleanups.push(() => db.dispose());
  const dataSource = db.dataSource;
  await dataSource.query('CREATE TABLE flap_effects (order_id TEXT NOT NULL, written_at INTEGER NOT NULL)');
  const log = new CapturedLog(process.env.OUTAGE_TEST_ECHO === 'true');
  const app: TestingModule = await Test.createTestingModule({
    imports: [
      ReliableMqModule.forRoot({
        producerGroup: 'shop',
        dataSource,
        transport: {
          kind: 'remote',
          url: `reliable-mq://127.0.0.1:${port}`,
          token: TEST_BROKER_TOKEN,
          topics: [{ name: TOPIC, queueCount: 4 }],
        },
        dedup: { store: 'db' },
        consumers: { prefetch: 64 },
        shutdownTimeoutMs: 2_000,
      }),
    ],
    providers: [Fulfilment],
  })
    .setLogger(log)
    .compile();
  await app.init();
  cleanups.push(() => app.close());
  const publisher = app.get(ReliablePublisher);
  const relay = app.get(OutboxRelayService);

  // Orders, one business transaction each, every ORDER_EVERY_MS whatever the broker does; the commit time of each.
  const committedAt = new Map<string, number>();
  let producing = true;
  let next = 0;
  const producer = (async () => {
    while (producing) {
      const orderId = `order-${++next}`;
      await publisher.transaction((manager) =>
        publisher.publish({ topic: TOPIC, key: orderId, payload: { orderId } }, { manager }),
      );
      committedAt.set(orderId, Date.now());
      await sleep(ORDER_EVERY_MS);
    }
  })();

  // The flapping: up for a while, SIGKILL, down for a while, start again on the same port and data directory.
  const flapStart = Date.now();
  const cycles: Array<{ killedAt: number; readyAt: number; upMs: number }> = [];
  let readyAt = flapStart;
  while (Date.now() - flapStart < FLAP_MS) {
    const upMs = randomIntBetween(random, UP_MS[0], UP_MS[1]);
    await sleep(upMs);
    await broker.kill();
    const killedAt = Date.now();
    await sleep(randomIntBetween(random, DOWN_MS[0], DOWN_MS[1]));
    broker = await BrokerProcess.start({ dataDir, port });
    readyAt = Date.now();
    cycles.push({ killedAt, readyAt, upMs });
  }
  const lastReturn = readyAt;
  await sleep(AFTER_LAST_RETURN_MS);
  producing = false;
  await producer;
  const placed = [...committedAt.keys()];

  await waitUntil(
    async () =>
      Number(
        ((await dataSource.query('SELECT COUNT(DISTINCT order_id) AS n FROM flap_effects')) as [{ n: number }])[0].n,
      ) >= placed.length,
    'every order to take effect',
    30_000,
    100,
  );
  // A little longer, so that a second application still on its way is seen too.
  await sleep(500);

  const effects = (await dataSource.query('SELECT order_id, written_at FROM flap_effects')) as Array<{
    order_id: string;
    written_at: number;
  }>;
  const applied = new Map<string, number[]>();
  for (const effect of effects) {
    const times = applied.get(effect.order_id) ?? [];
    times.push(Number(effect.written_at));
    applied.set(effect.order_id, times);
  }
  const lost = placed.filter((orderId) => !applied.has(orderId));
  const twice = [...applied.entries()].filter(([, times]) => times.length > 1).map(([orderId]) => orderId);
  const latencies: number[] = [];
  const afterLastReturn: number[] = [];
  for (const orderId of placed) {
    const times = applied.get(orderId);
    if (!times) continue;
    const latency = Math.min(...times) - committedAt.get(orderId)!;
    latencies.push(latency);
    if (committedAt.get(orderId)! >= lastReturn) afterLastReturn.push(latency);
  }
  latencies.sort((a, b) => a - b);
  afterLastReturn.sort((a, b) => a - b);
  const effectTimes = effects.map((effect) => Number(effect.written_at)).sort((a, b) => a - b);
  const resumeMs = cycles.map(({ readyAt: back }) => {
    const first = effectTimes.find((time) => time >= back);
    return first === undefined ? Number.NaN : first - back;
  });
  const sortedResume = [...resumeMs].filter((value) => !Number.isNaN(value)).sort((a, b) => a - b);
  const statuses = (await dataSource.query('SELECT status, COUNT(*) AS n FROM rmq_outbox GROUP BY status')) as Array<{
    status: string;
    n: number;
  }>;
  const outbox = Object.fromEntries(statuses.map((row) => [row.status, Number(row.n)]));
  const [{ m: maxAttempts }] = (await dataSource.query('SELECT MAX(attempts) AS m FROM rmq_outbox')) as [{ m: number }];
  const counters = app.get(ConsumerRunner).countersFor(GROUP, TOPIC);
  const reachableAgain = log.lines.filter(
    (line) => line.context === 'OutboxRelay' && /^The broker is reachable again after/.test(line.message),
  );
  const held = relay.metrics()!.heldForBroker;
  const downMs = cycles.map(({ killedAt, readyAt: back }) => back - killedAt);

  console.log(
    `[broker flapping] seed ${SEED}: ${cycles.length} SIGKILLs in ${Math.round((lastReturn - flapStart) / 1000)} s ` +
      `(up ${cycles.map((cycle) => (cycle.upMs / 1000).toFixed(1)).join('/')} s; down until ready ` +
      `${downMs.map((value) => (value / 1000).toFixed(1)).join('/')} s); ${placed.length} orders committed; ` +
      `applied once ${placed.length - lost.length - twice.length}, lost ${lost.length}, applied twice ${twice.length}, ` +
      `redeliveries absorbed by dedup ${counters.duplicates}, rows given back for the broker ${held}; outbox ` +
      `${JSON.stringify(outbox)}, highest attempts ${maxAttempts}; first effect after each return: median ` +
      `${ms(percentile(sortedResume, 50))}, max ${ms(sortedResume[sortedResume.length - 1] ?? Number.NaN)}; ` +
      `commit-to-effect over the whole run p50 ${ms(percentile(latencies, 50))}, p99 ${ms(percentile(latencies, 99))}, ` +
      `max ${ms(latencies[latencies.length - 1] ?? Number.NaN)}; for the ${afterLastReturn.length} orders committed ` +
      `after the last return p50 ${ms(percentile(afterLastReturn, 50))}, p99 ${ms(percentile(afterLastReturn, 99))}; ` +
      `the relay's last outage line: ${reachableAgain[reachableAgain.length - 1]?.message ?? 'none'}`,
  );

  expect(cycles.length).toBeGreaterThanOrEqual(6);
  expect(lost).toEqual([]);
  expect(twice).toEqual([]);
  expect(outbox).toEqual({ sent: placed.length });
  expect(afterLastReturn.length).toBeGreaterThan(100);
  expect(percentile(afterLastReturn, 99)).toBeLessThan(5_000);
  // The relay's log tells each outage once when it starts and once when it ends.
  const outageLines = (pattern: RegExp): number =>
    log.lines.filter((line) => line.context === 'OutboxRelay' && pattern.test(line.message)).length;
  expect(outageLines(/^The broker is unreachable/)).toBe(cycles.length);
  expect(outageLines(/^The broker is reachable again after/)).toBe(cycles.length);
}, 150_000);
