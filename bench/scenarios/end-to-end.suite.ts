import { BrokerEngine } from '@reliable-mq/engine';
import { connect, type Channel, type ChannelModel, type ConfirmChannel } from 'amqplib';
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
import { RABBITMQ_URL } from '../lib/services';
import { freshDir, sentAtOf, timedBody } from '../lib/temp';
import type { BenchContext, Measurement, Suite } from '../lib/types';

async function engineRig(ctx: BenchContext): Promise<Rig> {
  const tmp = freshDir(ctx, 'e2e-engine');
  const engine = BrokerEngine.open({ dataDir: tmp.dir, flush: 'sync' });
  engine.createTopic('bench', { queueCount: 4 });
  const probe = new HandlerProbe();
  const subscription = await engine.subscribe({
    group: 'bench-e2e',
    topic: 'bench',
    prefetch: PREFETCH,
    handler: async (delivery) => {
      probe.handled(sentAtOf(delivery.body));
    },
  });
  return {
    publish: async (seq, sentAt) => {
      await engine.publish([{ topic: 'bench', key: `order-${seq}`, body: timedBody(sentAt) }]);
    },
    probe,
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
export async function rabbitRig(
  ctx: BenchContext,
  type: 'classic' | 'quorum',
  round: number,
  load: string,
): Promise<Rig> {
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
  const probe = new HandlerProbe();
  await sub.consume(
    queue,
    (message) => {
      if (!message) return;
      probe.handled(sentAtOf(message.content));
      sub.ack(message);
    },
    { noAck: false },
  );
  return {
    publish: (_seq, sentAt) =>
      new Promise<void>((resolve, reject) => {
        pub.sendToQueue(queue, timedBody(sentAt), { persistent: true }, (error) => (error ? reject(error) : resolve()));
      }),
    probe,
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

export function endToEndSuite(ctx: BenchContext): Suite {
  const { max: maxLoad, rate: rateLoad } = endToEndLoads(ctx);
  const e2e = 'publish call to handler (end to end)';
  const fixed = `scheduled send to handler, at ${FIXED_RATE.toLocaleString('en-US')} msg/s offered`;
  const measurements: Measurement[] = [
    {
      name: 'engine.e2e.max',
      group: 3,
      title: `Engine end to end, sync flush, ${PUBLISHERS} publishers, at most ${WINDOW} in flight (highest sustained rate)`,
      baseline: 'rabbitmq.classic.e2e.max',
      latencyOf: e2e,
      run: () => withRig(() => engineRig(ctx), maxLoad),
    },
    {
      name: 'rabbitmq.classic.e2e.max',
      group: 4,
      title: `RabbitMQ classic durable queue, persistent, confirms, ${PUBLISHERS} publishers, at most ${WINDOW} in flight (highest sustained rate)`,
      requires: ['rabbitmq'],
      latencyOf: e2e,
      run: (round) => withRig(() => rabbitRig(ctx, 'classic', round, 'max'), maxLoad),
    },
    {
      name: 'rabbitmq.quorum.e2e.max',
      group: 4,
      title: `RabbitMQ quorum queue, persistent, confirms, ${PUBLISHERS} publishers, at most ${WINDOW} in flight (highest sustained rate)`,
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
