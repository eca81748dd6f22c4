import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, expect, it } from 'vitest';
import { OUTBOX_TABLE } from '@reliable-mq/nestjs';
import { RemoteTransport } from '@reliable-mq/nestjs';
import { BrokerProcess, TEST_BROKER_TOKEN } from '../support/broker-process';
import { randomIntBetween, seededRandom, seedFromEnv } from '../support/seeded-random';
import { spawnTs } from '../support/spawn-ts';
import { waitUntil } from '../support/wait-until';
import { ORDER_TOPIC, type ChildLine, type ConsumerConfig, type ProducerConfig } from './remote-broker-crash.protocol';

/**
 * The broker process under SIGKILL, with separate producer and consumer application processes.
 *
 * A producer application commits orders with their `order.created` outbox rows (some transactions are rolled back on
 * purpose); its relay sends them to the broker over the remote transport. A consumer application handles them with an
 * @MqConsumer deduplicated on the order id (`db` dedup: the effect and the inbox row commit together). Meanwhile the
 * broker process is SIGKILLed and restarted on the same data directory and port again and again, at random moments.
 * Both applications keep running: they reconnect, the relay re-sends what was in flight, the consumer resubscribes.
 * Then the producer stops taking orders and drains its outbox, the consumer drains, and:
 *
 * - every outbox row was confirmed (`sent`), and every confirmed message is in the broker once (a fresh group reads
 *   the topic from the start): no confirmed message was lost, and re-sends made no duplicate;
 * - every committed order has exactly one effect, rolled-back orders have none: each business effect is applied once;
 * - the totals are printed.
 *
 * REMOTE_CRASH_KILLS sets the number of kills (default 24, or 20 when CI=true; never fewer than 20); REMOTE_CRASH_SEED
 * replays a kill schedule; REMOTE_CRASH_KEEP_DATA=1 keeps the data for inspection.
 */

const KILLS = Math.max(20, Number(process.env.REMOTE_CRASH_KILLS ?? (process.env.CI === 'true' ? 20 : 24)));
const SEED = seedFromEnv('REMOTE_CRASH_SEED');
const RUN_MIN_MS = 150;
const RUN_MAX_MS = 900;
const DOWN_MAX_MS = 300;
const DRAIN_LIMIT_MS = 90_000;
const TEST_TIMEOUT_MS = KILLS * 8_000 + DRAIN_LIMIT_MS * 2 + 60_000;

const root = mkdtempSync(join(tmpdir(), 'rmq-remote-crash-'));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  if (process.env.REMOTE_CRASH_KEEP_DATA === '1') console.log(`Remote crash data kept in ${root}`);
  else rmSync(root, { recursive: true, force: true });
});

interface AppChild {
  process: ChildProcess;
  lines: ChildLine[];
  stderr: string;
  exited: Promise<number | null>;
}

function startApp(file: string, config: ProducerConfig | ConsumerConfig): AppChild {
  const child = spawnTs(file, [JSON.stringify(config)], { env: { NO_COLOR: '1' } });
  children.push(child);
  const app: AppChild = {
    process: child,
    lines: [],
    stderr: '',
    exited: new Promise((resolve) => child.once('close', (code) => resolve(code))),
  };
  let pending = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    let end: number;
    while ((end = pending.indexOf('\n')) !== -1) {
      const text = pending.slice(0, end);
      pending = pending.slice(end + 1);
      try {
        app.lines.push(JSON.parse(text) as ChildLine);
      } catch {
        app.stderr += `(stdout) ${text}\n`;
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    // Keep the tail only: reconnect warnings repeat with every kill.
    app.stderr = (app.stderr + chunk).slice(-20_000);
  });
  return app;
}

const lastOf = <K extends ChildLine['kind']>(app: AppChild, kind: K): Extract<ChildLine, { kind: K }> | undefined =>
  [...app.lines].reverse().find((line) => line.kind === kind) as Extract<ChildLine, { kind: K }> | undefined;

function failIfErrored(app: AppChild, name: string): void {
  const error = app.lines.find((line) => line.kind === 'error');
  if (error) throw new Error(`${name} failed: ${(error as { message: string }).message}\n${app.stderr}`);
}

it(
  `loses no confirmed message and applies every effect once while the broker is SIGKILLed ${KILLS} times (seed ${SEED})`,
  async () => {
    const random = seededRandom(SEED);
    const brokerDir = join(root, 'broker');
    let broker = await BrokerProcess.start({ dataDir: brokerDir, env: { BROKER_TOPICS: `${ORDER_TOPIC}:4` } });
    const port = broker.port;
    const common = { brokerUrl: broker.url, token: TEST_BROKER_TOKEN, drainLimitMs: DRAIN_LIMIT_MS };
    const producerDb = join(root, 'orders.sqlite');
    const consumerDb = join(root, 'effects.sqlite');
    const consumer = startApp('test/crash/remote-broker-crash.consumer.ts', { ...common, databaseFile: consumerDb });
    const producer = startApp('test/crash/remote-broker-crash.producer.ts', {
      ...common,
      databaseFile: producerDb,
      rollbackEvery: 7,
      maxRunMs: TEST_TIMEOUT_MS,
    });
    await waitUntil(
      () => {
        failIfErrored(producer, 'producer');
        failIfErrored(consumer, 'consumer');
        return lastOf(producer, 'ready') !== undefined && lastOf(consumer, 'ready') !== undefined;
      },
      'both applications to start',
      60_000,
    );

    const committedAt = (): number => lastOf(producer, 'progress')?.committed ?? 0;
    const progressPerKill: number[] = [];
    for (let kill = 1; kill <= KILLS; kill++) {
      const before = committedAt();
      await new Promise((resolve) => setTimeout(resolve, randomIntBetween(random, RUN_MIN_MS, RUN_MAX_MS)));
      await broker.kill();
      await new Promise((resolve) => setTimeout(resolve, randomIntBetween(random, 0, DOWN_MAX_MS)));
      broker = await BrokerProcess.start({ dataDir: brokerDir, port, env: { BROKER_TOPICS: `${ORDER_TOPIC}:4` } });
      failIfErrored(producer, 'producer');
      failIfErrored(consumer, 'consumer');
      progressPerKill.push(committedAt() - before);
    }

    // Let the applications catch up with the last broker, then drain.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    producer.process.stdin!.write('stop\n');
    await waitUntil(
      () => lastOf(producer, 'drained') !== undefined || producer.process.exitCode !== null,
      'the producer to drain',
      DRAIN_LIMIT_MS + 10_000,
      100,
    );
    failIfErrored(producer, 'producer');
    const produced = lastOf(producer, 'drained')!;
    expect(await producer.exited).toBe(0);

    const orders = new Database(producerDb, { readonly: true });
    const orderIds = (orders.prepare('SELECT id FROM orders').all() as Array<{ id: string }>).map((row) => row.id);
    const outbox = orders.prepare(`SELECT id, status, attempts, payload FROM ${OUTBOX_TABLE}`).all() as Array<{
      id: string;
      status: string;
      attempts: number;
    }>;
    orders.close();
    expect(produced.pending).toBe(0);
    expect(outbox.filter((row) => row.status !== 'sent')).toEqual([]);
    expect(outbox).toHaveLength(orderIds.length);

    consumer.process.stdin!.write(`drain ${orderIds.length}\n`);
    await waitUntil(
      () => lastOf(consumer, 'drained') !== undefined || consumer.process.exitCode !== null,
      'the consumer to drain',
      DRAIN_LIMIT_MS + 10_000,
      100,
    );
    failIfErrored(consumer, 'consumer');
    const consumed = lastOf(consumer, 'drained')!;
    expect(await consumer.exited).toBe(0);

    const effectsDb = new Database(consumerDb, { readonly: true });
    const effects = effectsDb
      .prepare('SELECT order_id AS orderId, COUNT(*) AS n FROM effects GROUP BY order_id')
      .all() as Array<{
      orderId: string;
      n: number;
    }>;
    effectsDb.close();
    const effectCount = new Map(effects.map((row) => [row.orderId, row.n]));
    const missing = orderIds.filter((id) => !effectCount.has(id));
    const doubled = effects.filter((row) => row.n !== 1);
    const strangers = effects.filter((row) => !orderIds.includes(row.orderId));
    expect(missing).toEqual([]);
    expect(doubled).toEqual([]);
    expect(strangers).toEqual([]);

    // Every confirmed message is in the broker exactly once: a fresh group reads the topic from the start.
    const transport = new RemoteTransport({ kind: 'remote', url: broker.url, token: TEST_BROKER_TOKEN });
    await transport.connect();
    const stored = new Map<string, number>();
    const sub = await transport.subscribe(
      {
        group: 'crash-audit',
        topic: ORDER_TOPIC,
        mode: 'concurrent',
        prefetch: 256,
        maxReconsumeTimes: 1,
        startFrom: 'earliest',
      },
      async (message) => {
        stored.set(message.id, (stored.get(message.id) ?? 0) + 1);
      },
    );
    const confirmedIds = outbox.map((row) => row.id);
    await waitUntil(
      () => confirmedIds.every((id) => stored.has(id)),
      'every confirmed message in the broker',
      30_000,
      50,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    await sub.close(2_000);
    await transport.close();
    expect(stored.size).toBe(confirmedIds.length);
    expect([...stored.values()].every((count) => count === 1)).toBe(true);
    await broker.stop();

    const resent = outbox.filter((row) => row.attempts > 1).length;
    console.log(
      [
        `Remote broker crash test (seed ${SEED}): ${KILLS} SIGKILLs of the broker process.`,
        `  orders committed ${orderIds.length}, rolled back ${produced.rolledBack}; outbox rows confirmed ${outbox.length} (${resent} needed more than one attempt; relay failures ${produced.relay?.failed ?? '?'}, dead ${produced.relay?.dead ?? '?'})`,
        `  broker holds ${stored.size} distinct messages, none twice; effects ${effects.length}, missing ${missing.length}, applied twice ${doubled.length}`,
        `  consumer: handled ${consumed.handled}, duplicates skipped by dedup ${consumed.duplicates}, failed attempts ${consumed.failedHandlers}`,
        `  orders committed between kills: min ${Math.min(...progressPerKill)}, max ${Math.max(...progressPerKill)}`,
      ].join('\n'),
    );
    expect(orderIds.length).toBeGreaterThan(KILLS * 5);
  },
  TEST_TIMEOUT_MS,
);
