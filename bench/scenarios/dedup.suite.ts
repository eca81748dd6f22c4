import { uuidv7 } from '@reliable-mq/engine';
import {
  DbDedupStore,
  EmbeddedTransport,
  MemoryDedupStore,
  RedisDedupStore,
  type DedupStore,
  type TransportMessage,
} from '@reliable-mq/nestjs';
import { openPostgresDatabase, openSqliteDatabase, type BenchDatabase } from '../lib/databases';
import { sleep } from '../lib/loops';
import { deleteRedisKeys } from '../lib/redis-keys';
import { LatencySamples, nowMs } from '../lib/samples';
import { REDIS_URL, type ServiceName } from '../lib/services';
import { freshDir, orderPayload } from '../lib/temp';
import type { BenchContext, Measurement, Sample, Suite } from '../lib/types';

const TOPIC = 'order.created';
const PREFETCH = 32;
/** Batch mode gathers what is in flight: more in flight, larger batches. */
const PREFETCH_BATCHED = 256;

type DbKind = 'db.sqlite' | 'db.postgres';
/** `.write`: the handler writes one row through the dedup transaction; `.batched`: the store's batch mode. */
type StoreKind = 'none' | 'memory' | 'redis' | DbKind | `${DbKind}.write` | `${DbKind}.write.batched`;

/**
 * Scenario 8: a backlog of messages consumed through the embedded transport with `prefetch` 32, each handler call
 * wrapped in the dedup store's `execute` on the order id (as the consumer runner does), with an empty handler body.
 * The difference to `none` is what dedup costs per message; the latency is one `execute` call.
 */
export function dedupSuite(ctx: BenchContext): Suite {
  const messages = ctx.size({ full: 20_000, quick: 2_500, smoke: 200 });
  const warmUp = ctx.size({ full: 1000, quick: 300, smoke: 50 });
  const capMs = ctx.size({ full: 30_000, quick: 4_000, smoke: 3_000 });
  const dir = { current: undefined as { dir: string; remove(): void } | undefined };
  const databases = new Map<string, BenchDatabase>();
  const redisPrefixes: string[] = [];

  const database = async (kind: 'sqlite' | 'postgres'): Promise<BenchDatabase> => {
    let db = databases.get(kind);
    if (!db) {
      dir.current ??= freshDir(ctx, 'dedup');
      db =
        kind === 'sqlite'
          ? await openSqliteDatabase(dir.current.dir)
          : await openPostgresDatabase(`rmq_bench_${ctx.runId}_dedup`);
      await db.dataSource.query(
        `CREATE TABLE ${chargesTable(db)} (id varchar(160) PRIMARY KEY, amount integer NOT NULL)`,
      );
      databases.set(kind, db);
    }
    return db;
  };

  const storeFor = async (kind: StoreKind, round: number): Promise<DedupStore | undefined> => {
    switch (kind) {
      case 'none':
        return undefined;
      case 'memory':
        return new MemoryDedupStore();
      case 'redis': {
        const keyPrefix = `rmq:bench:${ctx.runId}:dedup:${round}:`;
        redisPrefixes.push(keyPrefix);
        return new RedisDedupStore({ url: REDIS_URL, keyPrefix });
      }
      default: {
        const db = await database(kind.startsWith('db.sqlite') ? 'sqlite' : 'postgres');
        return new DbDedupStore(db.dataSource, kind.endsWith('.batched') ? { batch: {} } : {});
      }
    }
  };

  const run =
    (kind: StoreKind) =>
    async (round: number): Promise<Sample> => {
      const engineDir = freshDir(ctx, `dedup-engine-${kind}`);
      const transport = new EmbeddedTransport({
        kind: 'embedded',
        dataDir: engineDir.dir,
        flush: 'sync',
        topics: [TOPIC],
      });
      const store = await storeFor(kind, round);
      try {
        await transport.connect();
        const group = `bench-dedup-${kind.replace('.', '-')}-${round}`;
        for (let start = 0; start < warmUp + messages; start += 500) {
          const batch: TransportMessage[] = [];
          for (let i = start; i < Math.min(warmUp + messages, start + 500); i++) {
            const orderId = `${ctx.runId}-${round}-${i}`;
            batch.push({
              id: uuidv7(),
              topic: TOPIC,
              key: orderId,
              headers: {},
              body: Buffer.from(JSON.stringify(orderPayload(orderId, 0))),
            });
          }
          await transport.publish(batch);
        }
        let latencies = new LatencySamples();
        let handled = 0;
        let last = 0;
        let started = 0;
        const writes = kind.includes('.write');
        const db = writes ? await database(kind.startsWith('db.sqlite') ? 'sqlite' : 'postgres') : undefined;
        const insert = db
          ? `INSERT INTO ${chargesTable(db)} (id, amount) VALUES (${db.kind === 'postgres' ? '$1' : '?'}, 1)`
          : '';
        const subscription = await transport.subscribe(
          {
            group,
            topic: TOPIC,
            mode: 'concurrent',
            prefetch: kind.endsWith('.batched') ? PREFETCH_BATCHED : PREFETCH,
            maxReconsumeTimes: 16,
            startFrom: 'earliest',
          },
          async (message) => {
            const t0 = nowMs();
            if (!store) await Promise.resolve();
            else if (writes)
              await store.execute(group, message.key!, (manager) =>
                manager!.query(insert, [`${group}:${message.key}`]),
              );
            else await store.execute(group, message.key!, async () => undefined);
            last = nowMs();
            latencies.add(last - t0);
            handled += 1;
            // The first messages warm up the JIT, the connection and the caches; the clock starts after them.
            if (handled === warmUp) {
              started = last;
              latencies = new LatencySamples();
            }
          },
        );
        const deadline = nowMs() + capMs;
        while (handled < warmUp + messages && nowMs() < deadline) await sleep(2);
        const capped = handled < warmUp + messages;
        await subscription.close(5_000);
        const count = Math.max(0, handled - warmUp);
        if (started === 0)
          throw new Error(`only ${handled} messages were handled within ${capMs} ms, fewer than the warm-up`);
        return {
          count,
          elapsedMs: (capped ? nowMs() : last) - started,
          latencies,
          extra: capped ? { timeCapped: 1 } : {},
        };
      } finally {
        await store?.close();
        await transport.close();
        engineDir.remove();
      }
    };

  const measurement = (kind: StoreKind, title: string, requires: ServiceName[] = []): Measurement => ({
    name: `dedup.${kind}`,
    group: 8,
    title,
    ...(kind === 'none' ? {} : { baseline: 'dedup.none' }),
    ...(requires.length > 0 ? { requires } : {}),
    latencyOf:
      kind === 'none'
        ? 'handler call (empty)'
        : kind.includes('.write')
          ? 'dedup execute() around a handler that writes one row'
          : 'dedup execute() around an empty handler',
    run: run(kind),
  });

  return {
    id: 'dedup',
    title: 'Scenario 8: dedup cost per message',
    rounds: ctx.size({ full: 3, quick: 1, smoke: 1 }),
    measurements: [
      measurement('none', 'Consume with no dedup'),
      measurement('memory', 'Consume with the memory dedup store'),
      measurement('redis', 'Consume with the Redis dedup store', ['redis']),
      measurement('db.sqlite', 'Consume with the DB dedup store on SQLite (WAL, FULL)'),
      measurement('db.postgres', 'Consume with the DB dedup store on PostgreSQL', ['postgres']),
      measurement('db.sqlite.write', 'DB dedup on SQLite, the handler writes one row'),
      measurement('db.sqlite.write.batched', 'DB dedup on SQLite, one row per message, batch mode, prefetch 256'),
      measurement('db.postgres.write', 'DB dedup on PostgreSQL, the handler writes one row', ['postgres']),
      measurement(
        'db.postgres.write.batched',
        'DB dedup on PostgreSQL, one row per message, batch mode, prefetch 256',
        ['postgres'],
      ),
    ],
    teardown: async () => {
      for (const db of databases.values()) await db.dispose();
      databases.clear();
      dir.current?.remove();
      for (const prefix of redisPrefixes) await deleteRedisKeys(prefix).catch(() => undefined);
    },
  };
}

/** The table the writing handlers insert into: in the bench's own schema on PostgreSQL. */
function chargesTable(db: BenchDatabase): string {
  return db.kind === 'postgres'
    ? `"${String((db.dataSource.options as { schema?: string }).schema)}".bench_charges`
    : 'bench_charges';
}
