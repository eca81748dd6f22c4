import { BrokerEngine } from '@reliable-mq/engine';
import { connect, type Channel, type ChannelModel, type ConfirmChannel } from 'amqplib';
import { closedLoop, openLoop, sleep, waitUntil } from '../lib/loops';
import { LatencySamples, nowMs } from '../lib/samples';
import { RABBITMQ_URL } from '../lib/services';
import { freshDir, sentAtOf, timedBody } from '../lib/temp';
import type { BenchContext, Measurement, Sample, Suite } from '../lib/types';

/** Publishers of the highest-rate runs, for the engine and RabbitMQ alike. */
const PUBLISHERS = 64;
/** Unacked messages handed to the consumer at a time, for both (the engine's and the framework's default). */
const PREFETCH = 32;
const FIXED_RATE = 2000;
const DRAIN_TIMEOUT_MS = 60_000;

type Load = { kind: 'max'; durationMs: number; maxCount: number } | { kind: 'rate'; durationMs: number };

/** What both brokers expose to the shared driver. */
interface Rig {
  /** Resolves when the broker has confirmed the message as durable. */
  publish(seq: number, sentAt: number): Promise<void>;
  handled(): number;
  lastHandledAt(): number;
  takeLatencies(): LatencySamples;
  close(): Promise<void>;
}

/**
 * Drives a rig: a warm-up, then either `PUBLISHERS` closed-loop publishers for the duration (the highest rate the
 * system sustains end to end) or an open loop at a fixed rate. Messages carry their send time; the consumer
 * records send → handler. The throughput is what the consumer handled, divided by the time from the first send to
 * the last handler call, so a consumer that lags behind the publishers lowers it.
 */
async function drive(rig: Rig, load: Load): Promise<Sample> {
  const warm = await closedLoop({ workers: 8, durationMs: 300, maxCount: 300, op: (seq) => rig.publish(-1 - seq, nowMs()), recordLatency: false });
  await waitUntil(() => rig.handled() >= warm.count, DRAIN_TIMEOUT_MS);
  await sleep(50);
  rig.takeLatencies();
  const base = rig.handled();
  const started = nowMs();
  let published: number;
  let errors = 0;
  let firstError: string | undefined;
  const extra: Record<string, number> = {};
  if (load.kind === 'max') {
    const result = await closedLoop({
      workers: PUBLISHERS,
      durationMs: load.durationMs,
      maxCount: load.maxCount,
      op: (seq) => rig.publish(seq, nowMs()),
      recordLatency: false,
    });
    published = result.count;
    errors = result.errors;
    firstError = result.firstError;
  } else {
    const result = await openLoop({
      ratePerSec: FIXED_RATE,
      durationMs: load.durationMs,
      maxOutstanding: 20_000,
      send: (seq, intendedAt) => rig.publish(seq, intendedAt),
    });
    published = result.sent;
    errors = result.errors;
    firstError = result.firstError;
    extra.skipped = result.skipped;
  }
  const drained = await waitUntil(() => rig.handled() - base >= published, DRAIN_TIMEOUT_MS);
  if (!drained) {
    errors += 1;
    firstError ??= `only ${rig.handled() - base} of ${published} messages reached the handler within ${DRAIN_TIMEOUT_MS} ms`;
  }
  const count = rig.handled() - base;
  return { count, elapsedMs: rig.lastHandledAt() - started, latencies: rig.takeLatencies(), errors, firstError, extra };
}

async function engineRig(ctx: BenchContext): Promise<Rig> {
  const tmp = freshDir(ctx, 'e2e-engine');
  const engine = BrokerEngine.open({ dataDir: tmp.dir, flush: 'sync' });
  engine.createTopic('bench', { queueCount: 4 });
  let latencies = new LatencySamples();
  let handled = 0;
  let last = 0;
  const subscription = await engine.subscribe({
    group: 'bench-e2e',
    topic: 'bench',
    prefetch: PREFETCH,
    handler: async (delivery) => {
      last = nowMs();
      latencies.add(last - sentAtOf(delivery.body));
      handled += 1;
    },
  });
  return {
    publish: async (seq, sentAt) => {
      await engine.publish([{ topic: 'bench', key: `order-${seq}`, body: timedBody(sentAt) }]);
    },
    handled: () => handled,
    lastHandledAt: () => last,
    takeLatencies: () => {
      const taken = latencies;
      latencies = new LatencySamples();
      return taken;
    },
    close: async () => {
      await subscription.close();
      await engine.close();
      tmp.remove();
    },
  };
}

/**
 * RabbitMQ as the documentation recommends for no loss: a durable queue, persistent messages, a confirm channel,
 * manual acks after the handler. Publisher and consumer use separate connections, so that flow control on the
 * publishing side does not stall deliveries.
 */
async function rabbitRig(ctx: BenchContext, type: 'classic' | 'quorum', round: number, load: string): Promise<Rig> {
  const queue = `rmq-bench-${ctx.runId}-${type}-${load}-${round}`;
  const publisherConnection: ChannelModel = await connect(RABBITMQ_URL);
  const consumerConnection: ChannelModel = await connect(RABBITMQ_URL);
  let publishChannel: ConfirmChannel | undefined;
  let consumeChannel: Channel | undefined;
  try {
    publishChannel = await publisherConnection.createConfirmChannel();
    consumeChannel = await consumerConnection.createChannel();
    await publishChannel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': type } });
    await consumeChannel.prefetch(PREFETCH);
  } catch (error) {
    await publisherConnection.close().catch(() => undefined);
    await consumerConnection.close().catch(() => undefined);
    throw error;
  }
  const pub = publishChannel;
  const sub = consumeChannel;
  let latencies = new LatencySamples();
  let handled = 0;
  let last = 0;
  await sub.consume(
    queue,
    (message) => {
      if (!message) return;
      last = nowMs();
      latencies.add(last - sentAtOf(message.content));
      handled += 1;
      sub.ack(message);
    },
    { noAck: false },
  );
  return {
    publish: (_seq, sentAt) =>
      new Promise<void>((resolve, reject) => {
        pub.sendToQueue(queue, timedBody(sentAt), { persistent: true }, (error) => (error ? reject(error) : resolve()));
      }),
    handled: () => handled,
    lastHandledAt: () => last,
    takeLatencies: () => {
      const taken = latencies;
      latencies = new LatencySamples();
      return taken;
    },
    close: async () => {
      try {
        await pub.deleteQueue(queue);
      } finally {
        await publisherConnection.close().catch(() => undefined);
        await consumerConnection.close().catch(() => undefined);
      }
    },
  };
}

async function withRig(open: () => Promise<Rig>, load: Load): Promise<Sample> {
  const rig = await open();
  try {
    return await drive(rig, load);
  } finally {
    await rig.close();
  }
}

export function endToEndSuite(ctx: BenchContext): Suite {
  const maxLoad: Load = {
    kind: 'max',
    durationMs: ctx.size({ full: 5000, quick: 1000, smoke: 200 }),
    maxCount: ctx.size({ full: 2_000_000, quick: 500_000, smoke: 500 }),
  };
  const rateLoad: Load = { kind: 'rate', durationMs: ctx.size({ full: 6000, quick: 1200, smoke: 250 }) };
  const e2e = 'publish call to handler (end to end)';
  const fixed = `scheduled send to handler, at ${FIXED_RATE.toLocaleString('en-US')} msg/s offered`;
  const measurements: Measurement[] = [
    {
      name: 'engine.e2e.max',
      group: 3,
      title: `Engine end to end, sync flush, ${PUBLISHERS} publishers, highest sustained rate`,
      baseline: 'rabbitmq.classic.e2e.max',
      latencyOf: e2e,
      run: () => withRig(() => engineRig(ctx), maxLoad),
    },
    {
      name: 'rabbitmq.classic.e2e.max',
      group: 4,
      title: `RabbitMQ classic durable queue, persistent, confirms, ${PUBLISHERS} publishers, highest sustained rate`,
      requires: ['rabbitmq'],
      latencyOf: e2e,
      run: (round) => withRig(() => rabbitRig(ctx, 'classic', round, 'max'), maxLoad),
    },
    {
      name: 'rabbitmq.quorum.e2e.max',
      group: 4,
      title: `RabbitMQ quorum queue, persistent, confirms, ${PUBLISHERS} publishers, highest sustained rate`,
      requires: ['rabbitmq'],
      latencyOf: e2e,
      run: (round) => withRig(() => rabbitRig(ctx, 'quorum', round, 'max'), maxLoad),
    },
    {
      name: 'engine.e2e.rate2000',
      group: 3,
      title: `Engine end to end, sync flush, fixed ${FIXED_RATE.toLocaleString('en-US')} msg/s`,
      baseline: 'rabbitmq.classic.e2e.rate2000',
      latencyOf: fixed,
      run: () => withRig(() => engineRig(ctx), rateLoad),
    },
    {
      name: 'rabbitmq.classic.e2e.rate2000',
      group: 4,
      title: `RabbitMQ classic durable queue, fixed ${FIXED_RATE.toLocaleString('en-US')} msg/s`,
      requires: ['rabbitmq'],
      latencyOf: fixed,
      run: (round) => withRig(() => rabbitRig(ctx, 'classic', round, 'rate'), rateLoad),
    },
    {
      name: 'rabbitmq.quorum.e2e.rate2000',
      group: 4,
      title: `RabbitMQ quorum queue, fixed ${FIXED_RATE.toLocaleString('en-US')} msg/s`,
      requires: ['rabbitmq'],
      latencyOf: fixed,
      run: (round) => withRig(() => rabbitRig(ctx, 'quorum', round, 'rate'), rateLoad),
    },
  ];
  return {
    id: 'e2e',
    title: 'Scenarios 3–4: end to end on the engine and on RabbitMQ',
    rounds: ctx.size({ full: 3, quick: 1, smoke: 1 }),
    measurements,
  };
}
