import { EmbeddedTransport, OutboxRelay, ReliablePublisher, type OutgoingMessage, type TransportMessage } from '@reliable-mq/nestjs';
import { migrate } from '@reliable-mq/engine/storage/schema';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { openPostgresDatabase, openSqliteDatabase, type BenchDatabase } from '../lib/databases';
import { LatencySamples, nowMs } from '../lib/samples';
import { freshDir, orderPayload } from '../lib/temp';
import { limitRun } from './publish.suite';
import type { BenchContext, Measurement, Sample, Suite } from '../lib/types';

const TOPIC = 'order.created';
const FILL_BATCH = 1000;

/** Writes `rows` outbox rows through the publisher, `FILL_BATCH` per transaction, as a service's backlog. */
async function fillBacklog(db: BenchDatabase, rows: number, prefix: string): Promise<void> {
  const publisher = new ReliablePublisher({
    dataSource: db.dataSource,
    transport: { kind: 'none' } as never,
    producerGroup: 'bench-orders',
  });
  try {
    for (let start = 0; start < rows; start += FILL_BATCH) {
      const messages: OutgoingMessage[] = [];
      for (let i = start; i < Math.min(rows, start + FILL_BATCH); i++) {
        const id = `${prefix}-${i}`;
        messages.push({ topic: TOPIC, key: id, payload: orderPayload(id, 0) });
      }
      await publisher.transaction((manager) => publisher.publish(messages, { manager }));
    }
  } finally {
    publisher.close();
  }
}

/**
 * Scenario 6: a backlog of outbox rows (as after a broker outage) drained by one relay with its default settings
 * into the embedded engine (sync flush). Timed from the first claim to the last row marked sent; each latency sample
 * is one relay round (claim, send with confirm, mark sent).
 */
function drainRun(ctx: BenchContext, kind: 'sqlite' | 'postgres', rows: number) {
  return async (round: number): Promise<Sample> => {
    const dir = freshDir(ctx, `drain-${kind}`);
    let db: BenchDatabase | undefined;
    let transport: EmbeddedTransport | undefined;
    try {
      db = kind === 'sqlite' ? await openSqliteDatabase(dir.dir) : await openPostgresDatabase(`rmq_bench_${ctx.runId}_drain_${round}`);
      await fillBacklog(db, rows, `${ctx.runId}-${round}`);
      transport = new EmbeddedTransport({ kind: 'embedded', dataDir: `${dir.dir}/broker`, flush: 'sync', topics: [TOPIC] });
      await transport.connect();
      const latencies = new LatencySamples();
      let lastConfirm = 0;
      const inner = transport;
      const timed = Object.create(inner) as EmbeddedTransport;
      timed.publish = async (batch: readonly TransportMessage[]) => {
        const confirms = await inner.publish(batch);
        const now = nowMs();
        latencies.add(now - lastConfirm);
        lastConfirm = now;
        return confirms;
      };
      const problems: string[] = [];
      const relay = new OutboxRelay({
        dataSource: db.dataSource,
        transport: timed,
        logger: { log: () => undefined, warn: (m) => problems.push(m), error: (m) => problems.push(m) },
      });
      const started = nowMs();
      lastConfirm = started;
      await relay.flush();
      const elapsedMs = nowMs() - started;
      await relay.stop();
      const pending = await relay.pendingCount();
      const sent = relay.metrics().sent;
      const topicStats = transport.engine.stats().topics.find((topic) => topic.topic === TOPIC);
      const stored = (topicStats?.queues ?? []).reduce((sum, queue) => sum + queue.maxOffset - queue.minOffset, 0);
      const errors = pending > 0 || sent !== rows || stored !== rows || problems.length > 0 ? 1 : 0;
      return {
        count: sent,
        elapsedMs,
        latencies,
        errors,
        firstError: errors
          ? `sent ${sent} of ${rows} (${stored} stored in the engine), ${pending} still pending${problems.length > 0 ? `; relay said: ${problems[0]}` : ''}`
          : undefined,
        extra: { relayRounds: relay.metrics().rounds },
      };
    } finally {
      await transport?.close();
      await db?.dispose();
      dir.remove();
    }
  };
}

/**
 * The floor of a drain on SQLite: the relay's own statements and nothing else, on raw better-sqlite3 handles. Per
 * round of 100 rows: the claim (`UPDATE … RETURNING *` with the per-key check), the engine's insert of the 100 rows
 * into its `messages` table in one fsync'd transaction, and the sent mark; claim and mark without fsync, as the relay
 * runs them. Only those statements are timed, so this is what SQLite and the disk allow for this design, whatever
 * the framework code around it does.
 */
function floorRun(ctx: BenchContext, rows: number) {
  return async (round: number): Promise<Sample> => {
    const dir = freshDir(ctx, 'drain-floor');
    let db: BenchDatabase | undefined;
    const enginePath = join(dir.dir, 'engine.sqlite');
    const engineDb = new Database(enginePath);
    try {
      db = await openSqliteDatabase(dir.dir);
      await fillBacklog(db, rows, `${ctx.runId}-floor-${round}`);
      const app = (db.dataSource.driver as unknown as { databaseConnection: Database.Database }).databaseConnection;
      engineDb.pragma('journal_mode = WAL');
      engineDb.pragma('synchronous = FULL');
      migrate(engineDb, enginePath);
      const t = '"rmq_outbox"';
      const claim = app.prepare(
        `UPDATE ${t} SET lease_owner = ?, lease_until = ? WHERE seq IN (
           SELECT o.seq FROM ${t} AS o
           WHERE o.status = 'pending' AND o.next_attempt_at <= ? AND (o.lease_until IS NULL OR o.lease_until < ?)
             AND (o.msg_key IS NULL OR NOT EXISTS (
               SELECT 1 FROM ${t} AS p WHERE p.msg_key = o.msg_key AND p.seq < o.seq AND p.status <> 'sent'))
           ORDER BY o.seq LIMIT ?)
         RETURNING *`,
      );
      const mark = app.prepare(
        `UPDATE ${t} SET status = 'sent', sent_at = ?, lease_until = NULL
         WHERE seq IN (SELECT value FROM json_each(?)) AND lease_owner = ? AND status = 'pending'`,
      );
      const insert = engineDb.prepare(
        `INSERT INTO messages (topic, queue_id, queue_offset, message_id, key, tags, headers, body, born_at, stored_at, expire_at)
         VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, NULL)`,
      );
      const offsets = [0, 0, 0, 0];
      const store = engineDb.transaction((batch: Array<Record<string, unknown>>, now: number) => {
        batch.forEach((row, i) => {
          const queue = i % offsets.length;
          insert.run(TOPIC, queue, offsets[queue]!++, row.id, row.msg_key, row.headers, Buffer.from(String(row.payload)), now, now);
        });
      });
      app.pragma('synchronous = NORMAL');
      const latencies = new LatencySamples();
      let timed = 0;
      let count = 0;
      const wallDeadline = nowMs() + 120_000;
      while (count < rows && nowMs() < wallDeadline) {
        const now = Date.now();
        const t0 = nowMs();
        const batch = claim.all('floor', now + 30_000, now, now, 100) as Array<Record<string, unknown>>;
        if (batch.length === 0) break;
        store(batch, now);
        mark.run(now, JSON.stringify(batch.map((row) => row.seq)), 'floor');
        const took = nowMs() - t0;
        timed += took;
        count += batch.length;
        latencies.add(took);
      }
      app.pragma('synchronous = FULL');
      return { count, elapsedMs: timed, latencies, ...(count < rows ? { errors: 1, firstError: `only ${count} of ${rows} rows drained` } : {}) };
    } finally {
      engineDb.close();
      await db?.dispose();
      dir.remove();
    }
  };
}

export function relayDrainSuite(ctx: BenchContext): Suite {
  const rows = ctx.size({ full: 50_000, quick: 10_000, smoke: 500 });
  const measurement = (kind: 'sqlite' | 'postgres'): Measurement => ({
    name: `relay.drain.${kind}`,
    group: 6,
    title: `Relay drain of a ${rows.toLocaleString('en-US')}-row outbox backlog on ${kind === 'sqlite' ? 'SQLite' : 'PostgreSQL'} into the engine (sync)`,
    baseline: 'relay.limit.full.tx100',
    ...(kind === 'postgres' ? { requires: ['postgres'] as const } : {}),
    latencyOf: 'one relay round of up to 100 rows (claim, send, mark sent)',
    run: drainRun(ctx, kind, rows),
  });
  return {
    id: 'relay',
    title: 'Scenario 6: relay drain of an outbox backlog',
    rounds: ctx.size({ full: 2, quick: 1, smoke: 1 }),
    measurements: [
      {
        name: 'relay.limit.full.tx100',
        group: 6,
        title: 'Raw SQLite, synchronous=FULL, 100-row transactions, measured again next to the drain (its baseline)',
        latencyOf: 'one 100-row transaction (commit included)',
        run: limitRun(ctx, 'FULL', 100, ctx.size({ full: 3000, quick: 500, smoke: 150 }), 5_000_000),
      },
      measurement('sqlite'),
      {
        name: 'relay.floor.sqlite',
        group: 6,
        title: `The relay's SQL alone on raw SQLite handles (claim, engine insert, sent mark) for the same ${rows.toLocaleString('en-US')}-row backlog`,
        baseline: 'relay.limit.full.tx100',
        latencyOf: 'the three statements of one round of 100 rows',
        run: floorRun(ctx, rows),
      },
      measurement('postgres'),
    ],
  };
}
