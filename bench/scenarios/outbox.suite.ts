import { uuidv7 } from '@reliable-mq/engine';
import { ReliablePublisher, type Transport } from '@reliable-mq/nestjs';
import type { EntityManager } from 'typeorm';
import {
  BenchOrder,
  BenchOrderLine,
  BenchStock,
  openPostgresDatabase,
  openSqliteDatabase,
  orderRow,
  type BenchDatabase,
} from '../lib/databases';
import { LatencySamples, nowMs } from '../lib/samples';
import { freshDir, orderPayload } from '../lib/temp';
import type { BenchContext, Measurement, Sample, Suite } from '../lib/types';

type Variant = 'without' | 'with' | 'second-insert' | 'order-lines.without' | 'order-lines.with';
const VARIANTS: readonly Variant[] = ['without', 'with', 'second-insert', 'order-lines.without', 'order-lines.with'];
const BLOCK = 10;
/** The typical transaction: an order with this many lines, each taking its quantity off one SKU's stock. */
const LINES = 3;
const SKUS = 200;

/** The publisher's outbox path never touches the transport; `send()` is not used here. */
const NO_TRANSPORT = { kind: 'none' } as unknown as Transport;

const OUTBOX_COLUMNS = [
  'id',
  'producer_group',
  'topic',
  'msg_key',
  'headers',
  'payload',
  'status',
  'attempts',
  'next_attempt_at',
  'created_at',
];

/** The cheapest possible outbox write: one prepared-shape INSERT of the same row, with no checks and no wake-up. */
function secondInsert(db: BenchDatabase): string {
  const postgres = db.kind === 'postgres';
  const table = postgres ? `"${(db.dataSource.options as { schema: string }).schema}"."rmq_outbox"` : '"rmq_outbox"';
  const params = OUTBOX_COLUMNS.map((_, i) => (postgres ? `$${i + 1}` : '?')).join(', ');
  return `INSERT INTO ${table} (${OUTBOX_COLUMNS.map((c) => `"${c}"`).join(', ')}) VALUES (${params})`;
}

function outboxValues(id: string): Array<string | number> {
  const now = Date.now();
  return [
    uuidv7(now),
    'bench-orders',
    'order.created',
    id,
    '{}',
    JSON.stringify(orderPayload(id, nowMs())),
    'pending',
    0,
    now,
    now,
  ];
}

/** A typical order: the order row, its lines in one INSERT, and one stock UPDATE per line. */
async function placeOrder(manager: EntityManager, id: string): Promise<void> {
  await manager.insert(BenchOrder, orderRow(id));
  const seed = Number.parseInt(id.slice(id.lastIndexOf('-') + 1), 10) || 0;
  const lines = Array.from({ length: LINES }, (_, i) => ({
    id: `${id}-${i}`,
    orderId: id,
    sku: `sku-${(seed * LINES + i * 67) % SKUS}`,
    quantity: 1 + i,
    priceCents: 1250 + i * 100,
  }));
  await manager.insert(BenchOrderLine, lines);
  for (const line of lines) await manager.decrement(BenchStock, { sku: line.sku }, 'onHand', line.quantity);
}

/**
 * Scenario 5: one business transaction (insert an order) at a time, without and with the outbox write. "With" is
 * the documented path: `publisher.transaction(manager => { insert; publisher.publish(…, { manager }) })`. "Without"
 * is what the same service would do with no messaging: `dataSource.transaction(manager => insert)`. The relay does
 * not run, so the figure is the cost of the write itself. The variants of a database are measured interleaved.
 */
export function outboxSuite(ctx: BenchContext): Suite {
  const duration = ctx.size({ full: 3000, quick: 500, smoke: 150 });
  const maxCount = ctx.size({ full: 200_000, quick: 50_000, smoke: 300 });
  const databases = new Map<string, { db: BenchDatabase; publisher: ReliablePublisher }>();
  let dir: { dir: string; remove(): void } | undefined;
  let sequence = 0;

  const open = async (kind: 'sqlite' | 'postgres'): Promise<{ db: BenchDatabase; publisher: ReliablePublisher }> => {
    let entry = databases.get(kind);
    if (!entry) {
      dir ??= freshDir(ctx, 'outbox');
      const db =
        kind === 'sqlite'
          ? await openSqliteDatabase(dir.dir)
          : await openPostgresDatabase(`rmq_bench_${ctx.runId}_outbox`);
      await db.dataSource
        .getRepository(BenchStock)
        .insert(Array.from({ length: SKUS }, (_, i) => ({ sku: `sku-${i}`, onHand: 1_000_000_000 })));
      const publisher = new ReliablePublisher({
        dataSource: db.dataSource,
        transport: NO_TRANSPORT,
        producerGroup: 'bench-orders',
      });
      entry = { db, publisher };
      databases.set(kind, entry);
    }
    return entry;
  };

  /** One business transaction of `variant`; resolves its duration in ms. */
  const transactionOf = (kind: 'sqlite' | 'postgres', variant: Variant) => async (): Promise<number> => {
    const { db, publisher } = await open(kind);
    const id = `${ctx.runId}-${sequence++}`;
    const t0 = nowMs();
    if (variant === 'without') {
      await db.dataSource.transaction(async (manager) => {
        await manager.insert(BenchOrder, orderRow(id));
      });
    } else if (variant === 'order-lines.without') {
      await db.dataSource.transaction(async (manager) => {
        await placeOrder(manager, id);
      });
    } else if (variant === 'order-lines.with') {
      await publisher.transaction(async (manager) => {
        await placeOrder(manager, id);
        await publisher.publish({ topic: 'order.created', key: id, payload: orderPayload(id, nowMs()) }, { manager });
      });
    } else if (variant === 'second-insert') {
      const insert = secondInsert(db);
      await db.dataSource.transaction(async (manager) => {
        await manager.insert(BenchOrder, orderRow(id));
        await manager.query(insert, outboxValues(id));
      });
    } else {
      await publisher.transaction(async (manager) => {
        await manager.insert(BenchOrder, orderRow(id));
        await publisher.publish({ topic: 'order.created', key: id, payload: orderPayload(id, nowMs()) }, { manager });
      });
    }
    return nowMs() - t0;
  };

  /**
   * The three variants of one database run interleaved in blocks of `BLOCK` transactions, in rotating order, over
   * one window: a drift of the disk or of other load touches all three alike, which separate windows did not
   * achieve for an effect of this size. Each variant's rate is its transactions over the sum of their durations.
   */
  const paired = new Map<string, Promise<Record<Variant, Sample>>>();
  const pairedRun = (kind: 'sqlite' | 'postgres', round: number): Promise<Record<Variant, Sample>> => {
    const id = `${kind}:${round}`;
    let run = paired.get(id);
    if (!run) {
      run = (async () => {
        const out = Object.fromEntries(
          VARIANTS.map((variant) => [variant, { count: 0, elapsedMs: 0, latencies: new LatencySamples() }]),
        ) as Record<Variant, Sample>;
        for (const variant of VARIANTS) for (let i = 0; i < 50; i++) await transactionOf(kind, variant)();
        const deadline = nowMs() + duration * VARIANTS.length;
        for (let block = 0; nowMs() < deadline && out.without.count < maxCount; block++) {
          for (let v = 0; v < VARIANTS.length; v++) {
            const variant = VARIANTS[(block + v) % VARIANTS.length]!;
            const sample = out[variant];
            for (let i = 0; i < BLOCK; i++) {
              const took = await transactionOf(kind, variant)();
              sample.count += 1;
              sample.elapsedMs += took;
              sample.latencies.add(took);
            }
          }
        }
        return out;
      })();
      paired.set(id, run);
    }
    return run;
  };

  const run =
    (kind: 'sqlite' | 'postgres', variant: Variant) =>
    async (round: number): Promise<Sample> =>
      (await pairedRun(kind, round))[variant];

  const titles: Record<Variant, string> = {
    without: 'without the outbox write',
    with: 'with the outbox write (publisher.transaction + publish)',
    'second-insert': 'with a hand-written INSERT of the same outbox row instead (the floor of any outbox)',
    'order-lines.without': `a typical order (order row, ${LINES} lines, ${LINES} stock updates), without the outbox write`,
    'order-lines.with': `a typical order (order row, ${LINES} lines, ${LINES} stock updates), with the outbox write`,
  };
  const baselines: Record<Variant, string | undefined> = {
    without: undefined,
    with: 'without',
    'second-insert': 'without',
    'order-lines.without': undefined,
    'order-lines.with': 'order-lines.without',
  };
  const measurement = (kind: 'sqlite' | 'postgres', variant: Variant): Measurement => ({
    name: `outbox.${kind}.${variant}`,
    group: 5,
    title: `Business transaction on ${kind === 'sqlite' ? 'SQLite (WAL, FULL)' : 'PostgreSQL'}, ${titles[variant]}`,
    ...(baselines[variant] ? { baseline: `outbox.${kind}.${baselines[variant]}` } : {}),
    ...(kind === 'postgres' ? { requires: ['postgres'] as const } : {}),
    latencyOf: 'one business transaction, commit included',
    run: run(kind, variant),
  });

  return {
    id: 'outbox',
    title: 'Scenario 5: outbox overhead on the business transaction',
    rounds: ctx.size({ full: 3, quick: 1, smoke: 1 }),
    measurements: [
      ...VARIANTS.map((variant) => measurement('sqlite', variant)),
      ...VARIANTS.map((variant) => measurement('postgres', variant)),
    ],
    teardown: async () => {
      for (const { db, publisher } of databases.values()) {
        publisher.close();
        await db.dispose();
      }
      databases.clear();
      paired.clear();
      dir?.remove();
    },
  };
}
