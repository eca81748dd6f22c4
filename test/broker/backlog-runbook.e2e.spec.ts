import 'reflect-metadata';
import { Module, type DynamicModule, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { ReliableMqConsoleModule, hashConsoleToken, newConsoleToken } from '@reliable-mq/console';
import {
  DbDedupStore,
  RemoteTransport,
  runReliableMqMigrations,
  type InboundMessage,
  type TransportSubscription,
} from '@reliable-mq/nestjs';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { afterAll, describe, expect, it } from 'vitest';
import { BrokerProcess, TEST_BROKER_TOKEN } from '../support/broker-process';
import { waitUntil } from '../support/wait-until';

/**
 * The backlog runbook on the standalone broker, end to end: a slow consumer lets a backlog of more than 50,000
 * messages pile up on a 4-queue topic; the on-call engineer, through the console's API with an admin token, expands
 * the topic to 16 queues and moves the group's backlog onto 16 queues of the group's own, while the producer goes on
 * publishing; the fixed consumer and three more instances, with the very subscription they had, drain it. Every
 * message is handled once (the framework's db dedup store, its inbox in SQLite), each key in order (the group
 * consumes in orderly mode, across the expansion, the move and what was published during and after it), and the
 * drain time before (estimated from the rates then) and after (measured) is printed.
 */

const suffix = randomUUID().slice(0, 8);
const TOPIC = `bk-orders-${suffix}`;
const GROUP = `bk-billing-${suffix}`;
const BACKLOG_TOPIC = `%BACKLOG%${GROUP}`;
const ADMIN_TOKEN = `admin-${randomUUID()}`;
const KEYS = 500;
const PER_KEY = 104;
/** Published per key while the backlog moves and after it, on the expanded topic. */
const LIVE_PER_KEY = 6;
const TOTAL = KEYS * (PER_KEY + LIVE_PER_KEY);
/** The slow consumer's handler: 4 queues at one message in flight each, so about 80 messages/s in all. */
const SLOW_MS = 50;
const EXTRA_INSTANCES = 3;

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

interface BacklogEntry {
  group: string;
  topic: string;
  lag: number;
  lagMs: number;
  consumeRatePerSec: number;
  publishRatePerSec: number;
  members: number;
  queueCount: number;
  drain: { state: string; etaMs: number | null };
}

/** The console, mounted in a Nest app of this process, reaching the broker with its admin token. */
async function startConsole(brokerUrl: string): Promise<{ call: Console; transport: RemoteTransport }> {
  const transport = new RemoteTransport({
    kind: 'remote',
    url: brokerUrl,
    token: ADMIN_TOKEN,
    connectTimeoutMs: 10_000,
  });
  await transport.connect();
  cleanups.push(() => transport.close());
  const bearer = newConsoleToken();
  const dir = mkdtempSync(join(tmpdir(), 'rmq-backlog-console-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));

  @Module({})
  class Host {
    static register(): DynamicModule {
      return {
        module: Host,
        imports: [
          ReliableMqConsoleModule.forRoot({
            broker: { transport, stats: () => transport.stats(), backlog: transport.backlog, label: 'standalone' },
            auth: { tokens: [{ name: 'oncall', tokenHash: hashConsoleToken(bearer), role: 'admin' }] },
            storeFile: join(dir, 'console.sqlite'),
            sampling: false,
            dedupWindows: { [GROUP]: null },
          }),
        ],
      };
    }
  }
  const app: INestApplication = await NestFactory.create<NestExpressApplication>(Host.register(), {
    bodyParser: false,
    logger: false,
  });
  await app.listen(0, '127.0.0.1');
  cleanups.push(() => app.close());
  const { port } = app.getHttpServer().address() as AddressInfo;
  const call: Console = async (method, path, body) => {
    const response = await fetch(`http://127.0.0.1:${port}/console/api/${path}`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: response.status, body: (await response.json()) as never };
  };
  return { call, transport };
}

type Console = <T = Record<string, unknown>>(
  method: string,
  path: string,
  body?: unknown,
) => Promise<{ status: number; body: T }>;

/** Handled messages in the dedup store's own database, and what the handlers saw. */
class Ledger {
  processed = 0;
  duplicates = 0;
  orderBreaks: string[] = [];
  private readonly lastSeq = new Map<string, number>();

  constructor(
    readonly store: DbDedupStore,
    readonly dataSource: DataSource,
  ) {}

  async handle(message: InboundMessage): Promise<void> {
    const { key, seq } = JSON.parse(message.body.toString('utf8')) as { key: string; seq: number };
    const outcome = await this.store.execute(GROUP, message.id, async (manager) => {
      await manager!.query('INSERT INTO bk_charges (message_id, order_key, seq) VALUES (?, ?, ?)', [
        message.id,
        key,
        seq,
      ]);
    });
    if (outcome === 'duplicate') {
      this.duplicates += 1;
      return;
    }
    this.processed += 1;
    const last = this.lastSeq.get(key) ?? -1;
    if (seq !== last + 1 && this.orderBreaks.length < 10) this.orderBreaks.push(`${key}: ${seq} after ${last}`);
    this.lastSeq.set(key, seq);
  }
}

async function openLedger(): Promise<Ledger> {
  const dir = mkdtempSync(join(tmpdir(), 'rmq-backlog-db-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const dataSource = new DataSource({ type: 'better-sqlite3', database: join(dir, 'billing.sqlite') });
  await dataSource.initialize();
  cleanups.push(() => dataSource.destroy());
  // WAL with NORMAL sync: commits stay atomic and ordered; the test measures the broker, not the disk's fsync.
  await dataSource.query('PRAGMA journal_mode = WAL');
  await dataSource.query('PRAGMA synchronous = NORMAL');
  await runReliableMqMigrations(dataSource);
  await dataSource.query(
    'CREATE TABLE bk_charges (message_id TEXT PRIMARY KEY, order_key TEXT NOT NULL, seq INTEGER NOT NULL)',
  );
  const store = new DbDedupStore(dataSource, { retentionMs: null });
  cleanups.push(() => store.close());
  return new Ledger(store, dataSource);
}

/** One consumer instance: its own connection to the broker, so its own member of the group. */
async function instance(url: string, name: string): Promise<RemoteTransport> {
  const transport = new RemoteTransport({ kind: 'remote', url, token: TEST_BROKER_TOKEN, clientName: name });
  await transport.connect();
  cleanups.push(() => transport.close());
  return transport;
}

function subscribe(transport: RemoteTransport, topic: string, handler: (m: InboundMessage) => Promise<void>) {
  return transport.subscribe({ group: GROUP, topic, mode: 'orderly', prefetch: 16, maxReconsumeTimes: 3 }, handler);
}

describe('backlog runbook on the standalone broker', () => {
  it('expands, redistributes through the console, adds instances, and drains every message once in key order', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rmq-backlog-broker-'));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const broker = await BrokerProcess.start({
      dataDir,
      env: { BROKER_ADMIN_TOKEN: ADMIN_TOKEN, BROKER_TOPICS: `${TOPIC}:4` },
    });
    cleanups.push(() => broker.stop());
    const { call } = await startConsole(broker.url);
    const ledger = await openLedger();
    const subscriptions: TransportSubscription[] = [];
    cleanups.push(() => Promise.all(subscriptions.map((sub) => sub.close(1000))));

    // The slow consumer: one instance, every handler call 50 ms too long.
    let slow = true;
    const first = await instance(broker.url, 'billing-1');
    const handler = async (message: InboundMessage): Promise<void> => {
      if (slow) await sleep(SLOW_MS);
      await ledger.handle(message);
    };
    subscriptions.push(await subscribe(first, TOPIC, handler));

    const producer = await instance(broker.url, 'orders-producer');
    // One producer, batches in order: each key's messages are stored in the order of their sequence numbers.
    const publishRound = async (seq: number): Promise<void> => {
      const batch: Array<Parameters<RemoteTransport['publish']>[0][number]> = [];
      for (let k = 0; k < KEYS; k++) {
        const key = `order-${String(k).padStart(3, '0')}`;
        const body = Buffer.from(JSON.stringify({ key, seq }));
        batch.push({ id: `${key}-${seq}-${suffix}`, topic: TOPIC, key, headers: {}, body });
      }
      await producer.publish(batch);
    };
    const publishStarted = Date.now();
    for (let seq = 0; seq < PER_KEY; seq++) await publishRound(seq);
    const publishMs = Date.now() - publishStarted;
    // The rates are over the last 10 s: once the burst of publishing has left them, the slow pace shows.
    let before = await call<{ entries: BacklogEntry[] }>('GET', 'backlog');
    const entryOf = (entries: BacklogEntry[], topic: string): BacklogEntry =>
      entries.find((e) => e.group === GROUP && e.topic === topic)!;
    await waitUntil(
      async () => {
        before = await call<{ entries: BacklogEntry[] }>('GET', 'backlog');
        return entryOf(before.body.entries, TOPIC).drain.state === 'draining';
      },
      'the console to estimate the drain at the slow pace',
      20_000,
    );
    expect(before.status).toBe(200);
    const slowEntry = entryOf(before.body.entries, TOPIC);
    expect(slowEntry.lag).toBeGreaterThanOrEqual(50_000);
    expect(slowEntry).toMatchObject({ members: 1, queueCount: 4 });
    expect(slowEntry.lagMs).toBeGreaterThan(0);
    expect(before.body.entries[0]).toMatchObject({ group: GROUP, topic: TOPIC });
    const estimateBeforeMs = slowEntry.drain.etaMs!;

    // The runbook: more queues so more instances can work, and the backlog onto queues of the group's own, in one
    // action (the group paused on the topic meanwhile), while the producer goes on publishing before, during and after.
    let live = PER_KEY;
    await publishRound(live++);
    let moving = true;
    const livePublishing = (async () => {
      while (moving && live < PER_KEY + LIVE_PER_KEY - 1) {
        await publishRound(live++);
        await sleep(150);
      }
      while (live < PER_KEY + LIVE_PER_KEY) await publishRound(live++);
    })();
    const moveStarted = Date.now();
    const handledBeforeMove = ledger.processed;
    const started = await call<{ id: string }>('POST', 'backlog/redistribute', {
      group: GROUP,
      fromTopic: TOPIC,
      expandTo: 16,
      toQueueCount: 16,
      reason: 'billing backlog: 16 queues, backlog spread over them',
    });
    expect(started.status).toBe(202);
    const progress: number[] = [];
    let move = { state: 'running', moved: 0, total: 0, toTopic: '' };
    while (move.state === 'running') {
      await sleep(100);
      move = (await call<typeof move>('GET', `backlog/moves/${started.body.id}`)).body;
      progress.push(move.moved);
    }
    const moveMs = Date.now() - moveStarted;
    moving = false;
    expect(move).toMatchObject({ state: 'done', toTopic: BACKLOG_TOPIC });
    // The move waited for the slow consumer's messages in flight: what it did not handle was moved.
    expect(move.moved).toBeGreaterThan(49_000);
    expect(move.moved + handledBeforeMove).toBeLessThanOrEqual(TOTAL);
    expect(move.total).toBeGreaterThanOrEqual(50_000);
    await livePublishing;
    // The moved backlog is still the group's lag on its topic.
    const afterMove = entryOf((await call<{ entries: BacklogEntry[] }>('GET', 'backlog')).body.entries, TOPIC);
    expect(afterMove.lag).toBeGreaterThanOrEqual(move.moved - ledger.processed);

    // The consumer is fixed, and three more instances start: the same subscription of the topic, nothing else.
    slow = false;
    const drainStarted = Date.now();
    for (let i = 0; i < EXTRA_INSTANCES; i++) {
      const added = await instance(broker.url, `billing-${i + 2}`);
      subscriptions.push(await subscribe(added, TOPIC, handler));
    }
    await sleep(2500);
    const during = await call<{ entries: BacklogEntry[] }>('GET', 'backlog');
    const drainingEntry = entryOf(during.body.entries, TOPIC);
    expect(drainingEntry).toMatchObject({ members: 4, queueCount: 16 });

    await waitUntil(() => ledger.processed === TOTAL, 'every message handled', 150_000);
    const drainMs = Date.now() - drainStarted;
    await sleep(300);
    const after = await call<{ entries: BacklogEntry[] }>('GET', 'backlog');
    expect(entryOf(after.body.entries, TOPIC).lag).toBe(0);

    expect(ledger.orderBreaks).toEqual([]);
    expect(ledger.processed).toBe(TOTAL);
    expect(await countHandled(ledger)).toBe(TOTAL);
    const perKey = (await ledger.dataSource.query(
      'SELECT COUNT(DISTINCT order_key) AS keys, MIN(n) AS least, MAX(n) AS most FROM (SELECT order_key, COUNT(*) AS n FROM bk_charges GROUP BY order_key)',
    )) as Array<{ keys: number; least: number; most: number }>;
    expect(perKey[0]).toEqual({ keys: KEYS, least: PER_KEY + LIVE_PER_KEY, most: PER_KEY + LIVE_PER_KEY });

    const audit = await call<{ items: Array<{ action: string; count: number; outcome: string }> }>(
      'GET',
      'audit?action=backlog.',
    );
    expect(audit.body.items.map((item) => item.action).sort()).toEqual([
      'backlog.redistribute',
      'backlog.redistribute.done',
    ]);
    expect(audit.body.items.find((item) => item.action === 'backlog.redistribute.done')).toMatchObject({
      count: move.moved,
      outcome: 'ok',
    });

    console.log(
      [
        `backlog runbook: ${KEYS * PER_KEY} messages published in ${seconds(publishMs)} (${KEYS * LIVE_PER_KEY} more during and after the move); slow consumer at ` +
          `${slowEntry.consumeRatePerSec.toFixed(0)} msg/s with ${slowEntry.lag} behind (oldest ${seconds(slowEntry.lagMs)})`,
        `  drain time before (estimated by the console at that rate): ${seconds(estimateBeforeMs)}`,
        `  moved ${move.moved} onto the group's 16 backlog queues in ${seconds(moveMs)}; progress seen: ${progress.length} polls, ` +
          `${progress.filter((p) => p > 0 && p < move.moved).length} in between`,
        `  drain time after (measured, 4 instances, 16 backlog + 16 topic queues): ${seconds(drainMs)}; ` +
          `console estimate 2.5 s in: ${drainingEntry.drain.etaMs === null ? drainingEntry.drain.state : seconds(drainingEntry.drain.etaMs)} ` +
          `at ${drainingEntry.consumeRatePerSec.toFixed(0)} msg/s`,
        `  handled once each: ${ledger.processed}; duplicates stopped by the dedup store: ${ledger.duplicates}`,
      ].join('\n'),
    );
  }, 240_000);
});

async function countHandled(ledger: Ledger): Promise<number> {
  const [row] = (await ledger.dataSource.query('SELECT COUNT(*) AS n FROM bk_charges')) as Array<{ n: number }>;
  return row!.n;
}
