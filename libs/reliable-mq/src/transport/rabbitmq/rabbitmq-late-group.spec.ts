import { randomUUID } from 'node:crypto';
import { connect } from 'amqplib';
import { expect, it } from 'vitest';
import { RABBITMQ_URL, describeWithService, uniqueName } from '../../../../../test/support/services';
import { TransportError } from '../../errors/transport.error';
import type { InboundMessage } from '../transport.interface';
import {
  expectLateGroupGetsEverything,
  expectOnceInKeyOrder,
  lateGroupSpec,
  publishKeyed,
  sleep,
  subscribeRecording,
  until,
} from '../../../test/late-group';
import { rabbitMqTransportsClosedAfterEach, type Logged } from '../../../test/rabbitmq-transports';

const transport = rabbitMqTransportsClosedAfterEach();

const topicName = (): string => `t-${randomUUID().slice(0, 8)}`;
const logged = (): Logged => ({ logs: [], warnings: [], errors: [] });

/** Messages waiting in a queue, read with a passive declare; 0 when it does not exist. */
async function depth(queue: string): Promise<number> {
  const connection = await connect(RABBITMQ_URL);
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    return (await channel.checkQueue(queue)).messageCount;
  } catch {
    return 0;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

describeWithService('rabbitmq', 'RabbitMQ transport: a group that subscribes late', () => {
  it('without a history, gets every parked message published before any group subscribed, once each, in order', async () => {
    const prefix = uniqueName('rmql');
    const log = logged();
    const bus = await transport(prefix, { historyRetention: 0 }, log);
    const topic = topicName();
    await bus.ensureTopic(topic);
    await expectLateGroupGetsEverything(bus, topic, 'billing');
    expect(await depth(`${prefix}.unrouted:${topic}`)).toBe(0);
    expect(log.logs.join('\n')).toMatch(
      new RegExp(
        `Group "billing" consumes topic "${topic}" for the first time: .*\\(200 handed over by this subscription\\)`,
      ),
    );
  });

  it('without a history, two instances of the new group starting together hand the parked messages over once', async () => {
    const prefix = uniqueName('rmql');
    const producer = await transport(prefix, { historyRetention: 0 });
    const topic = topicName();
    await producer.ensureTopic(topic);
    const published = await publishKeyed(producer, topic, 300);
    const [one, two] = await Promise.all([
      transport(prefix, { historyRetention: 0 }),
      transport(prefix, { historyRetention: 0 }),
    ]);
    const seen: InboundMessage[] = [];
    // Orderly: whatever order the parked messages reach the group's queues in is the order they are handled in.
    const spec = lateGroupSpec(topic, 'billing');
    const subscriptions = await Promise.all([
      subscribeRecording(one, { ...spec, consumerId: 'one' }, seen),
      subscribeRecording(two, { ...spec, consumerId: 'two' }, seen),
    ]);
    await until(() => seen.length >= 300, 'the parked messages');
    await sleep(500);
    expectOnceInKeyOrder(seen, published);
    await Promise.all(subscriptions.map((recorded) => recorded.subscription.close(1000)));
  });

  it('without a history, a group joining a consumed topic gets only what comes after it, and the log says so', async () => {
    const prefix = uniqueName('rmql');
    const log = logged();
    const bus = await transport(prefix, { historyRetention: 0 }, log);
    const topic = topicName();
    await bus.ensureTopic(topic);
    const first = await subscribeRecording(bus, lateGroupSpec(topic, 'billing'));
    await publishKeyed(bus, topic, 20);
    await until(() => first.seen.length >= 20, 'the first group');
    const late = await subscribeRecording(bus, lateGroupSpec(topic, 'analytics'));
    const after = await publishKeyed(bus, topic, 10);
    await until(() => late.seen.length >= 10, 'what was published after the late group subscribed');
    await sleep(500);
    // RabbitMQ kept the first 20 only in the queue of the group that existed then: documented, not silent.
    expectOnceInKeyOrder(late.seen, after);
    expect(log.logs.join('\n')).toMatch(
      new RegExp(
        `Group "analytics" consumes topic "${topic}" for the first time: .*not kept on RabbitMQ for a group that comes later`,
      ),
    );
  });

  it('without a history, startFrom "latest" leaves parked messages parked for the next group', async () => {
    const prefix = uniqueName('rmql');
    const bus = await transport(prefix, { historyRetention: 0 });
    const topic = topicName();
    await bus.ensureTopic(topic);
    const parked = await publishKeyed(bus, topic, 10);
    const live = await subscribeRecording(bus, lateGroupSpec(topic, 'live-only', { startFrom: 'latest' }));
    await sleep(500);
    expect(live.seen).toEqual([]);
    expect(await depth(`${prefix}.unrouted:${topic}`)).toBe(10);
    const late = await subscribeRecording(bus, lateGroupSpec(topic, 'billing'));
    await until(() => late.seen.length >= 10, 'the parked messages');
    await sleep(300);
    expectOnceInKeyOrder(late.seen, parked);
  });

  it('without a history and with unroutable "reject" the publish fails, naming the topic and the fix', async () => {
    const prefix = uniqueName('rmql');
    const bus = await transport(prefix, { unroutable: 'reject', historyRetention: 0 });
    const topic = topicName();
    await bus.ensureTopic(topic);
    const error = await publishKeyed(bus, topic, 1).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(TransportError);
    expect((error as Error).message).toMatch(
      new RegExp(`No consumer group has a queue on topic "${topic}" yet .*relay keeps the row and sends it again`),
    );
    const group = await subscribeRecording(bus, lateGroupSpec(topic, 'billing'));
    const sent = await publishKeyed(bus, topic, 5);
    await until(() => group.seen.length >= 5, 'the messages sent once the group exists');
    expectOnceInKeyOrder(group.seen, sent);
  });
});
