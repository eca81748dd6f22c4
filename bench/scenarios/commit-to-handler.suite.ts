import { Inject, Injectable, Module, type DynamicModule, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { MqConsumer, OutboxRelayService, ReliableMqModule, ReliablePublisher } from '@reliable-mq/nestjs';
import { BenchOrder, openPostgresDatabase, openSqliteDatabase, orderRow, type BenchDatabase } from '../lib/databases';
import { openLoop, waitUntil } from '../lib/loops';
import { deleteRedisKeys } from '../lib/redis-keys';
import { LatencySamples, nowMs } from '../lib/samples';
import { REDIS_URL } from '../lib/services';
import { freshDir, orderPayload } from '../lib/temp';
import type { BenchContext, Measurement, Sample, Suite } from '../lib/types';

const TOPIC = 'order.created';
const RATE = 1000;
const ARRIVALS = 'BENCH_ARRIVALS';

/** When each order's message reached its handler (nowMs clock). */
class Arrivals {
  readonly at = new Map<string, number>();
}

/** Where the embedded engine runs: the framework's default (`main`), or a thread of its own. */
type EngineThread = 'main' | 'worker';

@Injectable()
class PaymentHandler {
  constructor(@Inject(ARRIVALS) private readonly arrivals: Arrivals) {}

  @MqConsumer({ topic: TOPIC, group: 'bench-payments', dedupKey: (payload: { orderId: string }) => payload.orderId })
  async charge(payload: { orderId: string }): Promise<void> {
    this.arrivals.at.set(payload.orderId, nowMs());
  }
}

@Module({})
class CommitToHandlerAppModule {
  static with(options: {
    db: BenchDatabase;
    dataDir: string;
    thread: EngineThread;
    keyPrefix: string;
    arrivals: Arrivals;
  }): DynamicModule {
    return {
      module: CommitToHandlerAppModule,
      imports: [
        ReliableMqModule.forRoot({
          producerGroup: 'bench-orders',
          dataSource: options.db.dataSource,
          transport: {
            kind: 'embedded',
            dataDir: options.dataDir,
            flush: 'sync',
            thread: options.thread,
            topics: [TOPIC],
          },
          dedup: { store: 'redis', url: REDIS_URL, keyPrefix: options.keyPrefix },
          consumers: { startFrom: 'earliest' },
        }),
      ],
      providers: [{ provide: ARRIVALS, useValue: options.arrivals }, PaymentHandler],
    };
  }
}

/**
 * Scenario 7: the whole reliable path in one Nest application. Orders are placed at a fixed offered rate, each in
 * its own business transaction that writes the order and its outbox row (`publisher.transaction`). The relay is
 * woken by the commit, sends the row to the embedded engine (sync flush), and the engine delivers it to an
 * `@MqConsumer` with Redis dedup on the order id. Latency runs from the moment the business commit returned to the
 * moment the handler ran.
 */
function commitToHandlerRun(ctx: BenchContext, kind: 'sqlite' | 'postgres', thread: EngineThread, durationMs: number) {
  return async (round: number): Promise<Sample> => {
    const dir = freshDir(ctx, `c2h-${kind}-${thread}`);
    const keyPrefix = `rmq:bench:${ctx.runId}:${kind}:${thread}:${round}:`;
    let db: BenchDatabase | undefined;
    let app: INestApplicationContext | undefined;
    try {
      db =
        kind === 'sqlite'
          ? await openSqliteDatabase(dir.dir)
          : await openPostgresDatabase(`rmq_bench_${ctx.runId}_c2h_${thread}_${round}`);
      const arrivals = new Arrivals();
      app = await NestFactory.createApplicationContext(
        CommitToHandlerAppModule.with({ db, dataDir: `${dir.dir}/broker`, thread, keyPrefix, arrivals }),
        { logger: ['error'] },
      );
      await app.init();
      const publisher = app.get(ReliablePublisher);
      const committedAt = new Map<string, number>();
      let transactions = new LatencySamples();
      const place = async (id: string, sentAt: number): Promise<void> => {
        await publisher.transaction(async (manager) => {
          await manager.insert(BenchOrder, orderRow(id));
          await publisher.publish({ topic: TOPIC, key: id, payload: orderPayload(id, sentAt) }, { manager });
        });
        const now = nowMs();
        committedAt.set(id, now);
        transactions.add(now - sentAt);
      };
      // Warm-up at the same rate, outside the measured window.
      const warm = await openLoop({
        ratePerSec: RATE,
        durationMs: 300,
        maxOutstanding: 5_000,
        send: (seq, at) => place(`${ctx.runId}-${round}-w${seq}`, at),
      });
      await waitUntil(() => arrivals.at.size >= warm.sent, 30_000);
      arrivals.at.clear();
      committedAt.clear();
      transactions = new LatencySamples();
      const relay = app.get(OutboxRelayService);
      const before = relay.metrics();
      // How late the event loop ran its callbacks during the load: everything here shares one thread, so a busy loop
      // shows up as latency in every step at once.
      const loopDelay = monitorEventLoopDelay({ resolution: 1 });
      loopDelay.enable();
      const load = await openLoop({
        ratePerSec: RATE,
        durationMs,
        maxOutstanding: 20_000,
        send: (seq, at) => place(`${ctx.runId}-${round}-${seq}`, at),
      });
      loopDelay.disable();
      const drained = await waitUntil(() => arrivals.at.size >= load.sent, 60_000);
      const after = relay.metrics();
      const relayRounds = (after?.rounds ?? 0) - (before?.rounds ?? 0);
      const relaySent = (after?.sent ?? 0) - (before?.sent ?? 0);
      const latencies = new LatencySamples();
      let first = Number.POSITIVE_INFINITY;
      let last = 0;
      let early = 0;
      for (const [id, committed] of committedAt) {
        const arrived = arrivals.at.get(id);
        if (arrived === undefined) continue;
        if (arrived < committed) early += 1;
        latencies.add(Math.max(0, arrived - committed));
        first = Math.min(first, committed);
        last = Math.max(last, arrived);
      }
      const errors = load.errors + (drained ? 0 : 1);
      return {
        count: latencies.count,
        elapsedMs: load.elapsedMs,
        latencies,
        errors,
        firstError:
          load.firstError ?? (drained ? undefined : `${arrivals.at.size} of ${load.sent} orders reached the handler`),
        extra: {
          skipped: load.skipped,
          // Whether the business database itself kept up: scheduled send to commit of the order's transaction.
          businessTxP50Ms: transactions.percentile(50) ?? 0,
          businessTxP99Ms: transactions.percentile(99) ?? 0,
          // How the relay batched: rounds run (empty ones included) and rows it sent while the load ran.
          relayRounds,
          relaySent,
          // The histogram holds the whole interval between 1 ms ticks: the lag is what exceeds it.
          loopLagP50Ms: Math.max(0, loopDelay.percentile(50) / 1e6 - 1),
          loopLagP99Ms: Math.max(0, loopDelay.percentile(99) / 1e6 - 1),
          // One long block delays one tick but every message in flight: the tail of the latency follows the maximum.
          loopLagMaxMs: Math.max(0, loopDelay.max / 1e6 - 1),
          ...(early > 0 ? { handledBeforeCommitReturned: early } : {}),
        },
      };
    } finally {
      await app?.close();
      await db?.dispose();
      dir.remove();
      await deleteRedisKeys(keyPrefix).catch(() => undefined);
    }
  };
}

export function commitToHandlerSuite(ctx: BenchContext): Suite {
  const duration = ctx.size({ full: 10_000, quick: 2000, smoke: 300 });
  const measurement = (kind: 'sqlite' | 'postgres', thread: EngineThread): Measurement => ({
    name: thread === 'main' ? `commit-to-handler.${kind}.rate1000` : `commit-to-handler.${kind}.worker.rate1000`,
    group: 7,
    title: `Commit to handler at ${RATE.toLocaleString('en-US')} msg/s: business DB ${kind === 'sqlite' ? 'SQLite' : 'PostgreSQL'}, outbox, relay, engine (sync${thread === 'worker' ? ", thread: 'worker'" : ''}), Redis dedup`,
    requires: kind === 'sqlite' ? ['redis'] : ['redis', 'postgres'],
    latencyOf: 'business commit returned to handler called',
    run: commitToHandlerRun(ctx, kind, thread, duration),
  });
  return {
    id: 'commit-to-handler',
    title: 'Scenario 7: commit to handler through outbox, relay and engine',
    rounds: ctx.size({ full: 2, quick: 1, smoke: 1 }),
    measurements: [
      measurement('sqlite', 'main'),
      measurement('sqlite', 'worker'),
      measurement('postgres', 'main'),
      measurement('postgres', 'worker'),
    ],
  };
}
