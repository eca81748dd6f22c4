import { randomUUID } from 'node:crypto';
import { connect } from 'amqplib';
import { RabbitMqTransport } from '@reliable-mq/nestjs';
import type { TransportSubscription } from '@reliable-mq/nestjs';
import {
  E2E_FIXED_RATE as FIXED_RATE,
  E2E_PREFETCH as PREFETCH,
  E2E_PUBLISHERS as PUBLISHERS,
  E2E_WINDOW as WINDOW,
  HandlerProbe,
  withEndToEndRig as withRig,
  type EndToEndRig as Rig,
} from '../lib/end-to-end';
import { endToEndLoads } from '../lib/end-to-end-loads';
import { rabbitRig } from './end-to-end.suite';
import { RABBITMQ_URL } from '../lib/services';
import { sentAtOf, timedBody } from '../lib/temp';
import type { BenchContext, Measurement, Suite } from '../lib/types';

/**
 * Scenario 11: the framework's RabbitMQ transport end to end (publish with confirms → quorum queue → handler, acked
 * after it resolves), with the same driver, payload, publishers, prefetch and loads as the raw `amqplib` quorum
 * baseline of scenario 4. The highest-rate rows are compared with that baseline run again here, round by round
 * (`rabbitmq.transport.raw.e2e.max`): RabbitMQ slows down over a long run, so a baseline taken minutes earlier would
 * charge that drift to the transport. The ratio is the framework's overhead on RabbitMQ.
 */

/**
 * The transport as an application gets it: one connection for publishing and one for consuming (two transport
 * instances, as two services would have), a concurrent subscription with prefetch 32 on the group's quorum queue.
 */
async function transportRig(ctx: BenchContext, round: number, load: string, history = true): Promise<Rig> {
  const prefix = `rmq-bench-${ctx.runId}-${load}${history ? '' : 'n'}-${round}`;
  // The default keeps every topic's history in a stream for late groups: each message is written twice.
  const options = { kind: 'rabbitmq' as const, url: RABBITMQ_URL, prefix, ...(history ? {} : { historyRetention: 0 }) };
  const quiet = { log: () => undefined, warn: () => undefined, error: (message: string) => console.error(message) };
  const producer = new RabbitMqTransport(options, { logger: quiet });
  const consumer = new RabbitMqTransport(options, { logger: quiet });
  await producer.connect();
  await consumer.connect();
  const probe = new HandlerProbe();
  let subscription: TransportSubscription | undefined;
  try {
    await producer.ensureTopic('bench');
    subscription = await consumer.subscribe(
      { group: 'bench-e2e', topic: 'bench', mode: 'concurrent', prefetch: PREFETCH, maxReconsumeTimes: 16 },
      async (message) => {
        probe.handled(sentAtOf(message.body));
      },
    );
  } catch (error) {
    await Promise.allSettled([producer.close(), consumer.close()]);
    throw error;
  }
  return {
    publish: async (seq, sentAt) => {
      await producer.publish([
        { id: randomUUID(), topic: 'bench', key: `order-${seq}`, headers: {}, body: timedBody(sentAt) },
      ]);
    },
    probe,
    close: async () => {
      await subscription?.close(5000);
      const declared = [producer.declaredTopology(), consumer.declaredTopology()];
      await Promise.allSettled([producer.close(), consumer.close()]);
      await deleteObjects(declared);
    },
  };
}

async function deleteObjects(declared: Array<{ queues: string[]; exchanges: string[] }>): Promise<void> {
  const connection = await connect(RABBITMQ_URL);
  connection.on('error', () => undefined);
  try {
    for (const name of new Set(declared.flatMap((set) => set.queues))) {
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      await channel.deleteQueue(name).catch(() => undefined);
      await channel.close().catch(() => undefined);
    }
    for (const name of new Set(declared.flatMap((set) => set.exchanges))) {
      const channel = await connection.createChannel();
      channel.on('error', () => undefined);
      await channel.deleteExchange(name).catch(() => undefined);
      await channel.close().catch(() => undefined);
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}

export function rabbitMqTransportSuite(ctx: BenchContext): Suite {
  const { max: maxLoad, rate: rateLoad } = endToEndLoads(ctx, { maxMs: 1200, rateMs: 1500 });
  const measurements: Measurement[] = [
    {
      name: 'rabbitmq.transport.raw.e2e.max',
      group: 11,
      title: `Raw amqplib on a quorum queue as in scenario 4 (\`rabbitmq.quorum.e2e.max\`), run again in the rounds of this scenario`,
      requires: ['rabbitmq'],
      latencyOf: 'publish call to handler (end to end)',
      run: (round) => withRig(() => rabbitRig(ctx, 'quorum', round, 'max11'), maxLoad),
    },
    {
      name: 'rabbitmq.transport.e2e.max',
      group: 11,
      title: `ReliableMQ RabbitMQ transport (quorum queue, confirms, acks after the handler), ${PUBLISHERS} publishers, at most ${WINDOW} in flight (highest sustained rate)`,
      baseline: 'rabbitmq.transport.raw.e2e.max',
      requires: ['rabbitmq'],
      latencyOf: 'publish call to handler (end to end)',
      run: (round) => withRig(() => transportRig(ctx, round, 'max'), maxLoad),
    },
    {
      name: 'rabbitmq.transport.nohistory.e2e.max',
      group: 11,
      title: `The same with historyRetention 0 (no history stream for late groups: each message stored once, as in the baseline)`,
      baseline: 'rabbitmq.transport.raw.e2e.max',
      requires: ['rabbitmq'],
      latencyOf: 'publish call to handler (end to end)',
      run: (round) => withRig(() => transportRig(ctx, round, 'max', false), maxLoad),
    },
    {
      name: 'rabbitmq.transport.e2e.rate2000',
      group: 11,
      title: `ReliableMQ RabbitMQ transport, fixed ${FIXED_RATE.toLocaleString('en-US')} msg/s`,
      baseline: 'rabbitmq.quorum.e2e.rate2000',
      requires: ['rabbitmq'],
      latencyOf: `scheduled send to handler, at ${FIXED_RATE.toLocaleString('en-US')} msg/s offered`,
      run: (round) => withRig(() => transportRig(ctx, round, 'rate'), rateLoad),
    },
  ];
  return {
    id: 'rabbitmq-transport',
    title: 'Scenario 11: the RabbitMQ transport end to end, against raw amqplib on a quorum queue',
    rounds: ctx.size({ full: 3, quick: 1, smoke: 1 }),
    measurements,
  };
}
