import {
  EmbeddedTransport,
  OutboxRelay,
  ReliablePublisher,
  type OutgoingMessage,
  type TransportMessage,
} from '@reliable-mq/nestjs';
import { migrateSchema as migrate } from '@reliable-mq/engine';
import { RELAY_DEFAULTS } from '@reliable-mq/nestjs';
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
 * runs from one confirm to the next: one relay round (mark sent, claim, send with confirm), as a claim's rows go out
 * in one publish when their keys differ, as here.
 */
function drainRun(ctx: BenchContext, kind: 'sqlite' | 'postgres', rows: number) {
  return async (round: number): Promise<Sample> => {
    const dir = freshDir(ctx, `drain-${kind}`);
    let db: BenchDatabase | undefined;
    let transport: EmbeddedTransport | undefined;
    try {
      db =
        kind === 'sqlite'
          ? await openSqliteDatabase(dir.dir)
          : await openPostgresDatabase(`rmq_bench_${ctx.runId}_drain_${round}`);
      await fillBacklog(db, rows, `${ctx.runId}-${round}`);
      transport = new EmbeddedTransport({
        kind: 'embedded',
        dataDir: `${dir.dir}/broker`,
        flush: 'sync',
        topics: [TOPIC],
      });
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
 * The floor of a drain on SQLite: the least work any relay with the same durability must do, on raw better-sqlite3
 * handles, with none of the framework's code. Per round of `batch` rows: read them (the columns a message needs, as
 * arrays), store each in the engine's `messages` table (its own schema) in one fsync'd transaction, and mark each sent
 * with an UPDATE of its status (no fsync, as the relay does). `leased` adds what per-row leases cost: each row is
 * also written once when claimed, with the lease and the per-key check of the relay's claim. Only those statements
 * are timed. The drain's distance to `leased` is the framework's own cost (its code and the engine's publish path);
 * the distance between the two floors is the price of leases.
 */
function floorRun(ctx: BenchContext, rows: number, batch: number, leased: boolean) {
  return async (round: number): Promise<Sample> => {
    const dir = freshDir(ctx, 'drain-floor');
    let db: BenchDatabase | undefined;
    const enginePath = join(dir.dir, 'engine.sqlite');
    const engineDb = new Database(enginePath);
    try {
      db = await openSqliteDatabase(dir.dir);
      await fillBacklog(db, rows, `${ctx.runId}-floor-${leased ? 'l' : 'm'}-${round}`);
      const app = (db.dataSource.driver as unknown as { databaseConnection: Database.Database }).databaseConnection;
      engineDb.pragma('journal_mode = WAL');
      engineDb.pragma('synchronous = FULL');
      migrate(engineDb, enginePath);
      const t = '"rmq_outbox"';
      const columns = 'seq, id, msg_key, headers, payload';
      const read = app.prepare(`SELECT ${columns} FROM ${t} WHERE status = 'pending' ORDER BY seq LIMIT ?`).raw(true);
      const claim = app
        .prepare(
          `UPDATE ${t} SET lease_owner = @owner, lease_until = @until WHERE seq IN (
             SELECT o.seq FROM ${t} AS o
             WHERE o.status = 'pending' AND o.next_attempt_at <= @now AND (o.lease_until IS NULL OR o.lease_until < @now)
               AND (o.msg_key IS NULL OR NOT EXISTS (
                 SELECT 1 FROM ${t} AS p WHERE p.msg_key = o.msg_key AND p.seq < o.seq AND p.status <> 'sent'
                   AND (p.status = 'dead' OR p.next_attempt_at > @now OR p.lease_until >= @now)))
             ORDER BY o.seq LIMIT @limit)
           RETURNING ${columns}`,
        )
        .raw(true);
      const mark = app.prepare(
        `UPDATE ${t} SET status = 'sent', sent_at = ?, lease_until = NULL WHERE seq IN (SELECT value FROM json_each(?))`,
      );
      const insert = engineDb.prepare(
        `INSERT INTO messages (topic, queue_id, queue_offset, message_id, key, tags, headers, body, born_at, stored_at, expire_at)
         VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, NULL)`,
      );
      const offsets = [0, 0, 0, 0];
      type Row = [number, string, string | null, string, string];
      const store = engineDb.transaction((rowsOfRound: Row[], now: number) => {
        rowsOfRound.forEach(([, id, key, headers, payload], i) => {
          const queue = i % offsets.length;
          insert.run(TOPIC, queue, offsets[queue]!++, id, key, headers, Buffer.from(payload), now, now);
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
        const taken = (
          leased ? claim.all({ owner: 'floor', until: now + 30_000, now, limit: batch }) : read.all(batch)
        ) as Row[];
        if (taken.length === 0) break;
        store(taken, now);
        mark.run(now, JSON.stringify(taken.map((row) => row[0])));
        const took = nowMs() - t0;
        timed += took;
        count += taken.length;
        latencies.add(took);
      }
      app.pragma('synchronous = FULL');
      return {
        count,
        elapsedMs: timed,
        latencies,
        ...(count < rows ? { errors: 1, firstError: `only ${count} of ${rows} rows drained` } : {}),
      };
    } finally {
      engineDb.close();
      await db?.dispose();
      dir.remove();
    }
  };
}

export function relayDrainSuite(ctx: BenchContext): Suite {
  const rows = ctx.size({ full: 50_000, quick: 10_000, smoke: 500 });
  const batch = RELAY_DEFAULTS.batchSize;
  const backlog = `${rows.toLocaleString('en-US')}-row`;
  const measurement = (kind: 'sqlite' | 'postgres'): Measurement => ({
    name: `relay.drain.${kind}`,
    group: 6,
    title: `Relay drain of a ${backlog} outbox backlog on ${kind === 'sqlite' ? 'SQLite' : 'PostgreSQL'} into the engine (sync)`,
    baseline: 'relay.limit.full.tx100',
    ...(kind === 'postgres' ? { requires: ['postgres'] as const } : {}),
    latencyOf: `one relay round of up to ${batch.toLocaleString('en-US')} rows (claim, send, mark sent)`,
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
        title: `The least any relay must do, on raw SQLite handles, for the same ${backlog} backlog: read the rows, store them in the engine's table (fsync'd, ${batch.toLocaleString('en-US')} per transaction), mark them sent`,
        baseline: 'relay.limit.full.tx100',
        latencyOf: `read, store and mark of one round of ${batch.toLocaleString('en-US')} rows`,
        run: floorRun(ctx, rows, batch, false),
      },
      {
        name: 'relay.floor.leased.sqlite',
        group: 6,
        title: `The same with per-row leases: each row also written when claimed (the relay's claim, with its per-key check)`,
        baseline: 'relay.limit.full.tx100',
        latencyOf: `claim, store and mark of one round of ${batch.toLocaleString('en-US')} rows`,
        run: floorRun(ctx, rows, batch, true),
      },
      measurement('postgres'),
    ],
  };
}
