import { OutboxRelayService } from '@reliable-mq/nestjs';
import { execFile } from 'node:child_process';
import { afterEach, expect, it } from 'vitest';
import {
  CARDS,
  RABBITMQ_POSTGRES,
  bootSampleIn,
  deadLetterOrderIds,
  duplicatesSuppressed,
  eventually,
  gateway,
  ordersOf,
  paymentRowsPerOrder,
  placeOrder,
  type TestSample,
} from '../sample/sample-harness';
import { CuttableTcpProxy } from '../support/cuttable-tcp-proxy';
import { LocalRabbitMqCluster, locateRabbitMqTools } from '../support/rabbitmq-cluster';
import { RABBITMQ_URL, describeWithService, serviceEndpoint } from '../support/services';

/*
 * The fault test of the RabbitMQ transport: RabbitMQ becomes unreachable for 30 s or more while orders keep being
 * placed on the sample (RabbitMQ + PostgreSQL). The outboxes hold every message; once RabbitMQ is back, everything
 * is delivered, nothing is lost and nothing is applied twice. The totals are printed.
 *
 * - Always: through a TCP proxy the test owns and cuts, so the shared server is left alone.
 * - Once on a RabbitMQ node of the test's own (test/support/rabbitmq-cluster.ts: own name, ports and data
 *   directory): its application is stopped (`rabbitmqctl stop_app`), so that the server itself goes away with every
 *   connection and channel, and is started again. The shared server is never stopped. (Nodes killed with SIGKILL:
 *   test/chaos/rabbitmq-cluster.e2e.spec.ts.)
 *
 * RABBITMQ_OUTAGE_MS lengthens the outage; RABBITMQ_OUTAGE_LOG=1 prints the services' logs (reconnections, the
 * relay's outage lines) for a run that needs explaining.
 */

const OUTAGE_MS = Math.max(30_000, Number(process.env.RABBITMQ_OUTAGE_MS ?? 32_000));
/** Orders placed per second while RabbitMQ is away. */
const RATE_DURING = 3;
const SETTLE_TIMEOUT_MS = 150_000;

type Kind = 'ok' | 'failsTwice' | 'declined';
const MIX: Kind[] = ['ok', 'ok', 'failsTwice', 'ok', 'declined', 'ok', 'failsTwice', 'ok'];
const EXPECTED: Record<Kind, string> = { ok: 'PAID', failsTwice: 'PAID', declined: 'PENDING' };
const CARD: Record<Kind, string> = { ok: CARDS.ok, failsTwice: CARDS.failsTwice, declined: CARDS.declined };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Outage {
  name: string;
  /** Makes RabbitMQ unreachable for the sample. */
  begin(): Promise<void>;
  /** Makes it reachable again; must be safe to call twice. */
  end(): Promise<void>;
  /** The depth and consumers of the sample's queues, for the story of a run that did not settle. */
  queues(prefix: string): Promise<string>;
}

const running: TestSample[] = [];
afterEach(async () => {
  for (const sample of running.splice(0)) await sample.stop();
});

let orderCount = 0;

async function placeSome(sample: TestSample, placed: Map<string, Kind>, count: number): Promise<void> {
  for (let index = 0; index < count; index++) {
    const kind = MIX[orderCount++ % MIX.length]!;
    const id = await placeOrder(sample, { customerId: 'outage', amount: 10 + (orderCount % 50), card: CARD[kind] });
    placed.set(id, kind);
  }
}

async function outageRun(outage: Outage, rabbitmqUrl: string): Promise<void> {
  const sample = await bootSampleIn(RABBITMQ_POSTGRES, {
    rabbitmq: {
      ...RABBITMQ_POSTGRES.fresh().rabbitmq!,
      url: rabbitmqUrl,
      heartbeatSeconds: 2,
      reconnect: { initialDelayMs: 200, maxDelayMs: 2000 },
      connectTimeoutMs: 10_000,
    },
    logger: process.env.RABBITMQ_OUTAGE_LOG ? ['log', 'warn', 'error'] : false,
    // Rows must outlive the outage: many attempts, short backoff so that the drain starts soon after it ends.
    relay: { sweepCron: '*/1 * * * * *', backoffBaseMs: 200, backoffMaxMs: 2000, maxAttempts: 1000 },
  });
  running.push(sample);
  const orderRelay = sample.orderService.get(OutboxRelayService);
  const paymentRelay = sample.paymentService.get(OutboxRelayService);
  const placed = new Map<string, Kind>();

  await placeSome(sample, placed, 12);
  // A last burst right before the cut, so that some messages are in flight (unacked) when RabbitMQ goes away.
  await Promise.all(Array.from({ length: 4 }, () => placeSome(sample, placed, 1)));
  const placedBefore = placed.size;

  await outage.begin();
  const outageStarted = Date.now();
  let maxPending = 0;
  try {
    while (Date.now() - outageStarted < OUTAGE_MS) {
      const tick = Date.now();
      await placeSome(sample, placed, RATE_DURING);
      maxPending = Math.max(maxPending, (await orderRelay.pendingCount()) + (await paymentRelay.pendingCount()));
      await sleep(Math.max(0, 1000 - (Date.now() - tick)));
    }
  } finally {
    await outage.end();
  }
  const outageMs = Date.now() - outageStarted;
  const placedDuring = placed.size - placedBefore;
  const backAt = Date.now();
  await placeSome(sample, placed, 8);

  let orders = new Map<string, string>();
  let dead = new Map<string, string>();
  const settled = eventually(
    async () => {
      orders = await ordersOf(sample, 'outage');
      // Right after the outage the payment service may still be reconnecting: its DLQ endpoint answers 500.
      dead = await deadLetterOrderIds(sample).catch(() => dead);
      const final = [...placed.keys()].every((id) => orders.get(id) === 'PAID' || dead.has(id));
      return final && (await orderRelay.pendingCount()) === 0 && (await paymentRelay.pendingCount()) === 0;
    },
    () => {
      const open = [...placed].filter(([id]) => orders.get(id) !== 'PAID' && !dead.has(id));
      return `${open.length} of ${placed.size} orders not final after the outage, e.g. ${JSON.stringify(open.slice(0, 5))}`;
    },
    SETTLE_TIMEOUT_MS,
  );
  await settled.catch(async (error: unknown) => {
    // What each side saw, so that a run that did not settle says where the messages stopped.
    const [orderStatus, paymentStatus, queues] = await Promise.all([
      orderRelay.status().catch((statusError: unknown) => String(statusError)),
      paymentRelay.status().catch((statusError: unknown) => String(statusError)),
      outage.queues(sample.options.rabbitmq?.prefix ?? '').catch((listError: unknown) => String(listError)),
    ]);
    console.error(
      `[RabbitMQ outage] did not settle.\norder relay: ${JSON.stringify(orderStatus)}\n` +
        `payment relay: ${JSON.stringify(paymentStatus)}\nqueues:\n${queues}`,
    );
    throw error;
  });
  const drainedMs = Date.now() - backAt;

  const rows = await paymentRowsPerOrder(sample);
  const wrongState = [...placed].filter(([id, kind]) => orders.get(id) !== EXPECTED[kind]);
  const paid = [...placed].filter(([, kind]) => kind !== 'declined');
  const declined = [...placed].filter(([, kind]) => kind === 'declined');
  const repeatedRequests = paid.reduce(
    (sum, [id, kind]) => sum + Math.max(0, gateway(sample).callsFor(id) - (kind === 'failsTwice' ? 3 : 1)),
    0,
  );
  const totals = {
    scenario: outage.name,
    outageSeconds: Math.round(outageMs / 100) / 10,
    ordersPlaced: placed.size,
    placedBefore,
    placedDuringOutage: placedDuring,
    placedAfter: placed.size - placedBefore - placedDuring,
    maxOutboxPendingDuringOutage: maxPending,
    paid: [...orders.values()].filter((status) => status === 'PAID').length,
    declinedInDlq: declined.filter(([id]) => dead.has(id)).length,
    paymentRows: [...rows.values()].reduce((sum, count) => sum + count, 0),
    gatewayCharges: gateway(sample).chargeCount,
    repeatedGatewayRequests: repeatedRequests,
    duplicatesSuppressed: await duplicatesSuppressed(sample),
    lost: [...placed.keys()].filter((id) => orders.get(id) !== 'PAID' && !dead.has(id)).length,
    appliedTwice: [...rows.values()].filter((count) => count > 1).length,
    secondsToDeliverEverythingAfterwards: Math.round(drainedMs / 100) / 10,
  };
  console.log(`RabbitMQ outage totals: ${JSON.stringify(totals, null, 2)}`);

  expect(outageMs).toBeGreaterThanOrEqual(30_000);
  expect(placedDuring).toBeGreaterThanOrEqual(60);
  // The outbox held what could not be sent.
  expect(maxPending).toBeGreaterThan(0);
  expect(wrongState).toEqual([]);
  expect(totals.lost).toBe(0);
  expect(totals.appliedTwice).toBe(0);
  for (const [id] of paid) expect(rows.get(id)).toBe(1);
  for (const [id] of declined) expect(rows.get(id) ?? 0).toBe(0);
  expect(totals.gatewayCharges).toBe(paid.length);
  expect(totals.declinedInDlq).toBe(declined.length);
}

const QUEUE_COLUMNS = ['name', 'type', 'messages_ready', 'messages_unacknowledged', 'consumers'];

/** The sample's queues on the shared server, read with `rabbitmqctl list_queues` (nothing is changed). */
function listSharedQueues(prefix: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('rabbitmqctl', ['list_queues', '-q', ...QUEUE_COLUMNS], { timeout: 30_000 }, (error, stdout) => {
      if (error) reject(error);
      else
        resolve(
          stdout
            .split('\n')
            .filter((line) => line.startsWith(prefix))
            .join('\n'),
        );
    });
  });
}

const NODE_TOOLS = locateRabbitMqTools();
const NODE_TOOLS_MISSING = 'missing' in NODE_TOOLS ? NODE_TOOLS.missing : undefined;
if (NODE_TOOLS_MISSING && process.env.CI !== 'true') {
  console.warn(`[RabbitMQ outage] the own-node stop run is skipped: ${NODE_TOOLS_MISSING}`);
}

describeWithService(['rabbitmq', 'postgres'], 'RabbitMQ unreachable for 30 s or more while orders are placed', () => {
  it(
    'through a TCP proxy the test owns: the outbox holds everything, then all is delivered once',
    { timeout: 300_000 },
    async () => {
      const proxy = new CuttableTcpProxy(serviceEndpoint('rabbitmq'));
      await proxy.start();
      try {
        await outageRun(
          {
            name: 'TCP proxy cut',
            begin: async () => proxy.cut(),
            end: async () => proxy.restore(),
            queues: async (prefix) => listSharedQueues(prefix),
          },
          proxy.urlFor(RABBITMQ_URL),
        );
      } finally {
        await proxy.stop();
      }
    },
  );

  // Outside CI a machine without the RabbitMQ scripts skips it (the reason is printed); CI must run it.
  it.skipIf(NODE_TOOLS_MISSING !== undefined && process.env.CI !== 'true')(
    'a RabbitMQ node of its own stopped and started again: all is delivered once',
    { timeout: 6 * 60_000 },
    async () => {
      const tools = NODE_TOOLS;
      if ('missing' in tools) throw new Error(`${tools.missing}; CI must run the own-node stop test`);
      const node = await LocalRabbitMqCluster.start(tools, { size: 1 });
      const only = node.nodes[0]!;
      try {
        await outageRun(
          {
            name: 'RabbitMQ node stopped (stop_app)',
            begin: async () => {
              await node.ctl(only, ['stop_app']);
            },
            end: async () => {
              await node.ctl(only, ['start_app'], { timeoutMs: 120_000 });
              await node.ctl(only, ['await_startup', '--timeout', '120'], { timeoutMs: 130_000 });
            },
            queues: async () => node.ctl(only, ['list_queues', ...QUEUE_COLUMNS]),
          },
          only.url,
        );
      } finally {
        // The sample first, while its node still answers, so that it closes without waiting for a reconnection.
        for (const sample of running.splice(0)) await sample.stop();
        await node.stop();
      }
    },
  );
});
