import { BrokerEngine, uuidv7, type FlushMode } from '@reliable-mq/engine';
import { migrateSchema as migrate } from '@reliable-mq/engine';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { closedLoop } from '../lib/loops';
import { LatencySamples, nowMs } from '../lib/samples';
import { BODY_BYTES, freshDir } from '../lib/temp';
import type { BenchContext, Measurement, Sample, Suite } from '../lib/types';

type Synchronous = 'FULL' | 'NORMAL';

const QUEUES = 4;

/**
 * Scenario 1, the limit: better-sqlite3 inserting the rows the engine stores (its own `messages` table, created by
 * its own migrations, with the same columns and indexes and a 256-byte body), with nothing else around them. Row
 * values are made before the clock starts, and only the transactions are timed, so the figure is SQLite's and the
 * disk's alone.
 */
export function limitRun(
  ctx: BenchContext,
  synchronous: Synchronous,
  rowsPerTx: number,
  durationMs: number,
  maxRows: number,
) {
  return async (): Promise<Sample> => {
    const tmp = freshDir(ctx, `limit-${synchronous}-${rowsPerTx}`);
    const path = join(tmp.dir, 'limit.sqlite');
    const db = new Database(path);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${synchronous}`);
      migrate(db, path);
      const insert = db.prepare(
        `INSERT INTO messages (topic, queue_id, queue_offset, message_id, key, tags, headers, body, born_at, stored_at, expire_at)
         VALUES (?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?, NULL)`,
      );
      const body = Buffer.alloc(BODY_BYTES, 0x61);
      const offsets = new Array<number>(QUEUES).fill(0);
      const chunkRows = Math.max(rowsPerTx, 1000 - (1000 % rowsPerTx));
      let next = 0;
      type Row = [number, number, string, string, number];
      const makeChunk = (): Row[] => {
        const now = Date.now();
        const rows: Row[] = [];
        for (let i = 0; i < chunkRows; i++, next++) {
          const queue = next % QUEUES;
          rows.push([queue, offsets[queue]!++, uuidv7(now), `order-${next}`, now]);
        }
        return rows;
      };
      const tx = db.transaction((rows: Row[], from: number) => {
        for (let i = from; i < from + rowsPerTx; i++) {
          const [queue, offset, id, key, now] = rows[i]!;
          insert.run('bench', queue, offset, id, key, body, now, now);
        }
      });
      const latencies = new LatencySamples();
      let timed = 0;
      let count = 0;
      const wallDeadline = nowMs() + durationMs * 4;
      while (timed < durationMs && count < maxRows && nowMs() < wallDeadline) {
        const rows = makeChunk();
        for (let from = 0; from < rows.length && timed < durationMs; from += rowsPerTx) {
          const t0 = nowMs();
          tx(rows, from);
          const took = nowMs() - t0;
          timed += took;
          count += rowsPerTx;
          latencies.add(took);
        }
      }
      return { count, elapsedMs: timed, latencies };
    } finally {
      db.close();
      tmp.remove();
    }
  };
}

/** Scenario 2: `workers` publishers, each publishing `batch` messages per call and awaiting the confirm. */
function enginePublishRun(
  ctx: BenchContext,
  flush: FlushMode,
  workers: number,
  batch: number,
  durationMs: number,
  maxCalls: number,
) {
  return async (): Promise<Sample> => {
    const tmp = freshDir(ctx, `engine-${flush}-${workers}`);
    const engine = BrokerEngine.open({ dataDir: tmp.dir, flush });
    try {
      engine.createTopic('bench', { queueCount: QUEUES });
      const body = Buffer.alloc(BODY_BYTES, 0x61);
      const messages = (seq: number) =>
        Array.from({ length: batch }, (_, i) => ({ topic: 'bench', key: `order-${seq * batch + i}`, body }));
      // Warm-up: the JIT and SQLite's page cache, outside the measured window.
      await closedLoop({
        workers,
        durationMs: 300,
        maxCount: 5000,
        op: async (seq) => {
          await engine.publish(messages(-1 - seq));
        },
        recordLatency: false,
      });
      const result = await closedLoop({
        workers,
        durationMs,
        maxCount: maxCalls,
        op: async (seq) => {
          await engine.publish(messages(seq));
        },
      });
      return { ...result, count: result.count * batch };
    } finally {
      await engine.close();
      tmp.remove();
    }
  };
}

export function publishSuite(ctx: BenchContext): Suite {
  const duration = ctx.size({ full: 4000, quick: 500, smoke: 150 });
  const maxRows = ctx.size({ full: 5_000_000, quick: 1_000_000, smoke: 2_000 });
  const maxCalls = ctx.size({ full: 2_000_000, quick: 400_000, smoke: 1_000 });
  const limit = (name: string, synchronous: Synchronous, rowsPerTx: number, title: string): Measurement => ({
    name,
    group: 1,
    title,
    latencyOf: `one ${rowsPerTx}-row transaction (commit included)`,
    run: limitRun(ctx, synchronous, rowsPerTx, duration, maxRows),
  });
  const engine = (
    name: string,
    flush: FlushMode,
    workers: number,
    baseline: string,
    title: string,
    batch = 1,
  ): Measurement => ({
    name,
    group: 2,
    title,
    baseline,
    latencyOf: batch === 1 ? 'publish call to confirm' : `publish call of ${batch} messages to confirm`,
    run: enginePublishRun(ctx, flush, workers, batch, duration, maxCalls),
  });
  return {
    id: 'publish',
    title: 'Scenarios 1–2: the raw SQLite limit and engine publish with confirms',
    rounds: ctx.size({ full: 3, quick: 1, smoke: 1 }),
    measurements: [
      limit('limit.full.tx1', 'FULL', 1, 'Raw SQLite, synchronous=FULL, 1-row transactions'),
      limit('limit.full.tx100', 'FULL', 100, 'Raw SQLite, synchronous=FULL, 100-row transactions'),
      limit('limit.normal.tx100', 'NORMAL', 100, 'Raw SQLite, synchronous=NORMAL, 100-row transactions'),
      limit(
        'limit.normal.tx1',
        'NORMAL',
        1,
        'Raw SQLite, synchronous=NORMAL, 1-row transactions (baseline for async ×1)',
      ),
      engine('engine.publish.sync.c1', 'sync', 1, 'limit.full.tx1', 'Engine publish, sync flush, 1 publisher'),
      engine('engine.publish.sync.c64', 'sync', 64, 'limit.full.tx100', 'Engine publish, sync flush, 64 publishers'),
      engine('engine.publish.async.c1', 'async', 1, 'limit.normal.tx1', 'Engine publish, async flush, 1 publisher'),
      engine(
        'engine.publish.async.c64',
        'async',
        64,
        'limit.normal.tx100',
        'Engine publish, async flush, 64 publishers',
      ),
      engine(
        'engine.publish.sync.batch100',
        'sync',
        1,
        'limit.full.tx100',
        'Engine publish, sync flush, 1 publisher sending 100-message batches',
        100,
      ),
    ],
  };
}
