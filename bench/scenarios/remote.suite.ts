import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type ChannelModel, type ConfirmChannel } from 'amqplib';
import { RemoteTransport } from '@reliable-mq/nestjs';
import type { TransportMessage, TransportSubscription } from '@reliable-mq/nestjs';
import { BrokerProcess, TEST_BROKER_TOKEN } from '../../test/support/broker-process';
import {
  E2E_FIXED_RATE as FIXED_RATE,
  E2E_PREFETCH as PREFETCH,
  E2E_PUBLISHERS as PUBLISHERS,
  E2E_WINDOW as WINDOW,
  HandlerProbe,
  withEndToEndRig,
  type EndToEndRig,
} from '../lib/end-to-end';
import { endToEndLoads } from '../lib/end-to-end-loads';
import { closedLoop } from '../lib/loops';
import { RABBITMQ_URL } from '../lib/services';
import { BODY_BYTES, sentAtOf, timedBody } from '../lib/temp';
import type { BenchContext, Measurement, Sample, Suite } from '../lib/types';

/**
 * Scenarios 9–10: the standalone broker (apps/broker) as a separate process, reached over loopback TCP through the
 * remote transport, next to the same figures in process and on RabbitMQ.
 *
 * Each remote figure is compared with its in-process twin (`engine.*`, same flush mode, publishers and batch size).
 * The `…~rabbitmq` rows repeat a remote figure's own samples (nothing is measured twice) with RabbitMQ as the
 * baseline, since a row carries one baseline.
 */

const QUEUES = 4;

let broker: BrokerProcess | null = null;
let brokerDir: string | null = null;
let topicSeq = 0;

async function remoteClient(): Promise<RemoteTransport> {
  const transport = new RemoteTransport({ kind: 'remote', url: broker!.url, token: TEST_BROKER_TOKEN });
  await transport.connect();
  return transport;
}

async function freshTopic(transport: RemoteTransport, ctx: BenchContext): Promise<string> {
  const topic = `bench-${ctx.runId}-${topicSeq++}`;
  await transport.ensureTopic(topic);
  return topic;
}

/** `workers` publishers over one connection (calls are pipelined), each awaiting its confirm. */
function remotePublishRun(ctx: BenchContext, workers: number, batch: number, durationMs: number, maxCalls: number) {
  return async (): Promise<Sample> => {
    const transport = await remoteClient();
    try {
      const topic = await freshTopic(transport, ctx);
      const body = Buffer.alloc(BODY_BYTES, 0x61);
      // Ids are unique across topics on one broker: a run reusing an earlier run's ids would get duplicate confirms
      // (nothing stored), so every run's ids carry its own topic.
      let ids = 0;
      const messages = (seq: number): TransportMessage[] =>
        Array.from({ length: batch }, (_, i) => ({
          id: `${topic}-m-${ids++}-${seq}`,
          topic,
          key: `order-${seq * batch + i}`,
          headers: {},
          body,
        }));
      await closedLoop({
        workers,
        durationMs: 200,
        maxCount: 200,
        op: async (seq) => void (await transport.publish(messages(-1 - seq))),
        recordLatency: false,
      });
      const result = await closedLoop({
        workers,
        durationMs,
        maxCount: maxCalls,
        op: async (seq) => void (await transport.publish(messages(seq))),
      });
      return { ...result, count: result.count * batch };
    } finally {
      await transport.close();
    }
  };
}

/** RabbitMQ publish with confirms: durable classic queue, persistent messages, one confirm channel. */
function rabbitPublishRun(ctx: BenchContext, workers: number, durationMs: number, maxCalls: number) {
  return async (round: number): Promise<Sample> => {
    const queue = `rmq-bench-${ctx.runId}-publish-${workers}-${round}`;
    const connection: ChannelModel = await connect(RABBITMQ_URL);
    try {
      const channel: ConfirmChannel = await connection.createConfirmChannel();
      await channel.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'classic' } });
      const body = Buffer.alloc(BODY_BYTES, 0x61);
      const publish = (): Promise<void> =>
        new Promise((resolve, reject) =>
          channel.sendToQueue(queue, body, { persistent: true }, (error) => (error ? reject(error) : resolve())),
        );
      await closedLoop({ workers, durationMs: 200, maxCount: 200, op: publish, recordLatency: false });
      const result = await closedLoop({ workers, durationMs, maxCount: maxCalls, op: publish });
      await channel.deleteQueue(queue);
      return result;
    } finally {
      await connection.close().catch(() => undefined);
    }
  };
}

/**
 * End to end over the broker: a publishing connection and a consuming one (separate transports, as separate services
 * would have), messages carrying their send time, the handler recording send → handler. Driven like scenario 3.
 */
async function remoteRig(ctx: BenchContext): Promise<EndToEndRig> {
  const publisher = await remoteClient();
  const consumer = await remoteClient();
  let subscription: TransportSubscription | undefined;
  try {
    const topic = await freshTopic(publisher, ctx);
    const probe = new HandlerProbe();
    subscription = await consumer.subscribe(
      {
        group: `bench-e2e-${ctx.runId}`,
        topic,
        mode: 'concurrent',
        prefetch: PREFETCH,
        maxReconsumeTimes: 3,
        startFrom: 'earliest',
      },
      async (message) => {
        probe.handled(sentAtOf(message.body));
      },
    );
    // Per-rig ids: the broker process outlives a rig, and ids are unique across its topics.
    let ids = 0;
    const opened = subscription;
    return {
      publish: async (seq, sentAt) => {
        await publisher.publish([
          { id: `${topic}-e-${ids++}-${seq}`, topic, key: `order-${seq}`, headers: {}, body: timedBody(sentAt) },
        ]);
      },
      probe,
      close: async () => {
        await opened.close(2_000);
        await consumer.close();
        await publisher.close();
      },
    };
  } catch (error) {
    await subscription?.close(2_000).catch(() => undefined);
    await consumer.close().catch(() => undefined);
    await publisher.close().catch(() => undefined);
    throw error;
  }
}

/** Runs a measurement and keeps each round's sample, so a comparison row can report the same samples. */
function remembered(run: (round: number) => Promise<Sample>): {
  run: (round: number) => Promise<Sample>;
  replay: (round: number) => Promise<Sample>;
} {
  const samples = new Map<number, Sample>();
  return {
    run: async (round) => {
      const sample = await run(round);
      samples.set(round, sample);
      return sample;
    },
    replay: async (round) => {
      const sample = samples.get(round);
      if (!sample) throw new Error('the remote measurement of this round did not complete');
      return sample;
    },
  };
}

export function remoteSuite(ctx: BenchContext): Suite {
  const duration = ctx.size({ full: 4000, quick: 700, smoke: 150 });
  const maxCalls = ctx.size({ full: 2_000_000, quick: 400_000, smoke: 1_000 });
  const { max: maxLoad, rate: rateLoad } = endToEndLoads(ctx, { maxMs: 1200, rateMs: 1500 });

  const c1 = remembered(remotePublishRun(ctx, 1, 1, duration, maxCalls));
  const c64 = remembered(remotePublishRun(ctx, PUBLISHERS, 1, duration, maxCalls));
  const e2eMax = remembered(() => withEndToEndRig(() => remoteRig(ctx), maxLoad));
  const e2eRate = remembered(() => withEndToEndRig(() => remoteRig(ctx), rateLoad));
  const viaTcp = 'broker process over loopback TCP, sync flush';
  const fixed = `scheduled send to handler, at ${FIXED_RATE.toLocaleString('en-US')} msg/s offered`;

  const measurements: Measurement[] = [
    {
      name: 'remote.publish.sync.c1',
      group: 9,
      title: `Remote publish, ${viaTcp}, 1 publisher`,
      baseline: 'engine.publish.sync.c1',
      latencyOf: 'publish call to confirm',
      run: c1.run,
    },
    {
      name: 'remote.publish.sync.c64',
      group: 9,
      title: `Remote publish, ${viaTcp}, ${PUBLISHERS} publishers`,
      baseline: 'engine.publish.sync.c64',
      latencyOf: 'publish call to confirm',
      run: c64.run,
    },
    {
      name: 'remote.publish.sync.batch100',
      group: 9,
      title: `Remote publish, ${viaTcp}, 1 publisher sending 100-message batches`,
      baseline: 'engine.publish.sync.batch100',
      latencyOf: 'publish call of 100 messages to confirm',
      run: remotePublishRun(ctx, 1, 100, duration, maxCalls),
    },
    {
      name: 'rabbitmq.classic.publish.c1',
      group: 9,
      title: 'RabbitMQ publish with confirms, classic durable queue, persistent, 1 publisher',
      requires: ['rabbitmq'],
      latencyOf: 'publish to confirm',
      run: rabbitPublishRun(ctx, 1, duration, maxCalls),
    },
    {
      name: 'rabbitmq.classic.publish.c64',
      group: 9,
      title: `RabbitMQ publish with confirms, classic durable queue, persistent, ${PUBLISHERS} publishers`,
      requires: ['rabbitmq'],
      latencyOf: 'publish to confirm',
      run: rabbitPublishRun(ctx, PUBLISHERS, duration, maxCalls),
    },
    {
      name: 'remote.publish.sync.c1~rabbitmq',
      group: 9,
      title: 'remote.publish.sync.c1, its samples compared with RabbitMQ',
      baseline: 'rabbitmq.classic.publish.c1',
      latencyOf: 'publish call to confirm',
      run: c1.replay,
    },
    {
      name: 'remote.publish.sync.c64~rabbitmq',
      group: 9,
      title: 'remote.publish.sync.c64, its samples compared with RabbitMQ',
      baseline: 'rabbitmq.classic.publish.c64',
      latencyOf: 'publish call to confirm',
      run: c64.replay,
    },
    {
      name: 'remote.e2e.max',
      group: 10,
      title: `Remote end to end, ${viaTcp}, ${PUBLISHERS} publishers, at most ${WINDOW} in flight (highest sustained rate)`,
      baseline: 'engine.e2e.max',
      latencyOf: 'publish call to handler (end to end)',
      run: e2eMax.run,
    },
    {
      name: 'remote.e2e.max~rabbitmq',
      group: 10,
      title: 'remote.e2e.max, its samples compared with RabbitMQ',
      baseline: 'rabbitmq.classic.e2e.max',
      latencyOf: 'publish call to handler (end to end)',
      run: e2eMax.replay,
    },
    {
      name: 'remote.e2e.rate2000',
      group: 10,
      title: `Remote end to end, ${viaTcp}, fixed ${FIXED_RATE.toLocaleString('en-US')} msg/s`,
      baseline: 'engine.e2e.rate2000',
      latencyOf: fixed,
      run: e2eRate.run,
    },
    {
      name: 'remote.e2e.rate2000~rabbitmq',
      group: 10,
      title: 'remote.e2e.rate2000, its samples compared with RabbitMQ',
      baseline: 'rabbitmq.classic.e2e.rate2000',
      latencyOf: fixed,
      run: e2eRate.replay,
    },
  ];
  return {
    id: 'remote',
    title: 'Scenarios 9–10: the standalone broker over TCP (remote transport)',
    rounds: ctx.size({ full: 3, quick: 1, smoke: 1 }),
    measurements,
    setup: async () => {
      brokerDir = mkdtempSync(join(ctx.tmpRoot, 'remote-broker-'));
      broker = await BrokerProcess.start({
        dataDir: brokerDir,
        // e.g. BENCH_BROKER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the broker process too.
        nodeArgs: (process.env.BENCH_BROKER_NODE_ARGS ?? '').split(' ').filter(Boolean),
        env: { BROKER_TOPICS: `bench:${QUEUES}`, BROKER_ENGINE_OPTIONS: JSON.stringify({ defaultQueueCount: QUEUES }) },
      });
    },
    teardown: async () => {
      await broker?.stop();
      broker = null;
      if (brokerDir) rmSync(brokerDir, { recursive: true, force: true });
    },
  };
}
