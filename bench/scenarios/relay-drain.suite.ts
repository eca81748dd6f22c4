import { EmbeddedTransport, OutboxRelay, ReliablePublisher, type OutgoingMessage, type TransportMessage } from '@reliable-mq/nestjs';
import { openPostgresDatabase, openSqliteDatabase, type BenchDatabase } from '../lib/databases';
import { LatencySamples, nowMs } from '../lib/samples';
import { freshDir, orderPayload } from '../lib/temp';
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

export function relayDrainSuite(ctx: BenchContext): Suite {
  const rows = ctx.size({ full: 50_000, quick: 10_000, smoke: 500 });
  const measurement = (kind: 'sqlite' | 'postgres'): Measurement => ({
    name: `relay.drain.${kind}`,
    group: 6,
    title: `Relay drain of a ${rows.toLocaleString('en-US')}-row outbox backlog on ${kind === 'sqlite' ? 'SQLite' : 'PostgreSQL'} into the engine (sync)`,
    baseline: 'limit.full.tx100',
    ...(kind === 'postgres' ? { requires: ['postgres'] as const } : {}),
    latencyOf: 'one relay round of up to 100 rows (claim, send, mark sent)',
    run: drainRun(ctx, kind, rows),
  });
  return {
    id: 'relay',
    title: 'Scenario 6: relay drain of an outbox backlog',
    rounds: ctx.size({ full: 2, quick: 1, smoke: 1 }),
    measurements: [measurement('sqlite'), measurement('postgres')],
  };
}
