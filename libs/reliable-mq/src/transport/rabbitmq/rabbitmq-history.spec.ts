import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { connect } from 'amqplib';
import { expect, it } from 'vitest';
import { RABBITMQ_URL, describeWithService, uniqueName } from '../../../../../test/support/services';
import { ConfigurationError } from '../../errors/configuration.error';
import type { InboundMessage, SubscriptionSpec, Transport, TransportMessage } from '../transport.interface';
import { lateGroupSpec, sleep, subscribeRecording, until } from '../../../test/late-group';
import { rabbitMqTransportsClosedAfterEach, type Logged } from '../../../test/rabbitmq-transports';
import { RabbitMqTransport } from './rabbitmq.transport';

const transport = rabbitMqTransportsClosedAfterEach();

const topicName = (): string => `t-${randomUUID().slice(0, 8)}`;
const logged = (): Logged => ({ logs: [], warnings: [], errors: [] });
const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4'];

/**
 * Publishes `count` messages over five keys, 50 per call; each body is `<key>:<n>` with `n` growing across calls
 * sharing `sequence`, so per-key order can be checked over several batches.
 */
async function publishRun(bus: Transport, topic: string, count: number, sequence: { next: number }): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < count; start += 50) {
    const batch: TransportMessage[] = Array.from({ length: Math.min(50, count - start) }, () => {
      const n = sequence.next++;
      const key = KEYS[n % KEYS.length]!;
      return { id: randomUUID(), topic, key, headers: {}, body: Buffer.from(`${key}:${n}`) };
    });
    await bus.publish(batch);
    ids.push(...batch.map((message) => message.id));
  }
  return ids;
}

function expectOnceInKeyOrder(seen: readonly InboundMessage[], published: readonly string[]): void {
  const ids = seen.map((message) => message.id);
  expect(ids.length - new Set(ids).size, 'messages delivered twice').toBe(0);
  expect([...ids].sort()).toEqual([...published].sort());
  const byKey = new Map<string, number[]>();
  for (const message of seen) {
    const [key, n] = message.body.toString('utf8').split(':');
    byKey.set(key!, [...(byKey.get(key!) ?? []), Number(n)]);
  }
  for (const [key, sequence] of byKey) {
    expect(sequence, `order of key ${key}`).toEqual([...sequence].sort((a, b) => a - b));
  }
}

/** Messages in a queue (a stream's count is its length); 0 when it does not exist. */
async function queueExists(queue: string): Promise<boolean> {
  const connection = await connect(RABBITMQ_URL);
  try {
    const channel = await connection.createChannel();
    channel.on('error', () => undefined);
    await channel.checkQueue(queue);
    return true;
  } catch {
    return false;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** Cuts the transport's AMQP socket, as a crashed process would: nothing is closed politely. */
function cutSocket(bus: RabbitMqTransport): void {
  const inner = bus as unknown as { connection: { current(): { connection: { stream: Socket } } } };
  inner.connection.current().connection.stream.destroy();
}

describeWithService('rabbitmq', 'RabbitMQ transport: a new group catches up from the topic history', () => {
  it('a new group gets what was published before it, also on a topic other groups consume, once and in order', async () => {
    const prefix = uniqueName('rmqh');
    const log = logged();
    const bus = await transport(prefix, {}, log);
    const topic = topicName();
    await bus.ensureTopic(topic);
    const sequence = { next: 0 };
    const before = await publishRun(bus, topic, 150, sequence);
    const first = await subscribeRecording(bus, lateGroupSpec(topic, 'billing'));
    await until(() => first.seen.length >= 150, 'the messages published before the first group');
    const more = await publishRun(bus, topic, 100, sequence);
    await until(() => first.seen.length >= 250, 'the first group consuming live');
    // The late group subscribes while more is published: some of it lands between the catch-up's fences.
    const during = publishRun(bus, topic, 200, sequence);
    const late = await subscribeRecording(bus, lateGroupSpec(topic, 'analytics'));
    const concurrentLate = await subscribeRecording(
      bus,
      lateGroupSpec(topic, 'audit', { mode: 'concurrent', prefetch: 32 }),
    );
    const all = [...before, ...more, ...(await during)];
    await until(() => late.seen.length >= all.length, 'the late orderly group', 30_000);
    await until(() => concurrentLate.seen.length >= all.length, 'the late concurrent group', 30_000);
    await until(() => first.seen.length >= all.length, 'the first group');
    await sleep(1000);
    expectOnceInKeyOrder(first.seen, all);
    expectOnceInKeyOrder(late.seen, all);
    const ids = concurrentLate.seen.map((message) => message.id);
    expect(ids.length - new Set(ids).size).toBe(0);
    expect([...ids].sort()).toEqual([...all].sort());
    expect(await queueExists(`${prefix}.catchup-pending:analytics:${topic}`)).toBe(false);
    expect(log.logs.join('\n')).toMatch(
      new RegExp(
        `Group "analytics" consumes topic "${topic}" for the first time: it received \\d+ message\\(s\\) from`,
      ),
    );
    // Once caught up, a group restarting gets nothing again.
    await late.subscription.close(1000);
    const again = await subscribeRecording(bus, lateGroupSpec(topic, 'analytics'));
    const after = await publishRun(bus, topic, 10, sequence);
    await until(() => again.seen.length >= 10, 'live messages after the restart');
    await sleep(500);
    expectOnceInKeyOrder(again.seen, after);
  }, 60_000);

  it('two instances of a new group starting at once deliver the history once, in per-key order', async () => {
    const prefix = uniqueName('rmqh');
    const producer = await transport(prefix);
    const topic = topicName();
    await producer.ensureTopic(topic);
    const sequence = { next: 0 };
    await subscribeRecording(producer, lateGroupSpec(topic, 'existing'));
    const before = await publishRun(producer, topic, 300, sequence);
    const [one, two] = await Promise.all([transport(prefix), transport(prefix)]);
    const seen: InboundMessage[] = [];
    const spec = lateGroupSpec(topic, 'billing');
    const during = publishRun(producer, topic, 100, sequence);
    await Promise.all([
      subscribeRecording(one, { ...spec, consumerId: 'one' }, seen),
      subscribeRecording(two, { ...spec, consumerId: 'two' }, seen),
    ]);
    const all = [...before, ...(await during)];
    await until(() => seen.length >= all.length, 'the history and the live messages', 30_000);
    await sleep(1000);
    expectOnceInKeyOrder(seen, all);
  }, 60_000);

  it('a crash during the catch-up resumes from the saved position: nothing lost, few repeats', async () => {
    const prefix = uniqueName('rmqh');
    const producer = await transport(prefix);
    const topic = topicName();
    await producer.ensureTopic(topic);
    await subscribeRecording(producer, lateGroupSpec(topic, 'existing'));
    const sequence = { next: 0 };
    const before = await publishRun(producer, topic, 1500, sequence);
    const crashing = await transport(prefix);
    const seen: InboundMessage[] = [];
    let stall: Promise<void> | null = null;
    const spec: SubscriptionSpec = lateGroupSpec(topic, 'billing', { mode: 'concurrent', prefetch: 16 });
    await crashing.subscribe(spec, async (message) => {
      seen.push(message);
      // Hangs like a process about to die, once it is well into the history.
      if (seen.length >= 700) await (stall ??= new Promise<void>(() => undefined));
    });
    await until(() => seen.length >= 700, 'the first part of the history', 20_000);
    cutSocket(crashing);
    await crashing.close();
    const handledBefore = seen.length;
    const restarted = await transport(prefix);
    const resumed = await subscribeRecording(restarted, spec);
    const during = await publishRun(producer, topic, 50, sequence);
    const all = [...before, ...during];
    await until(
      () => new Set([...seen, ...resumed.seen].map((message) => message.id)).size >= all.length,
      'every message after the restart',
      30_000,
    );
    await sleep(1000);
    const ids = [...seen, ...resumed.seen].map((message) => message.id);
    expect(new Set(ids)).toEqual(new Set(all));
    const repeats = ids.length - new Set(ids).size;
    // At most what was handled since the last saved position (200 entries or 1 s) plus what was in flight.
    expect(repeats).toBeLessThanOrEqual(200 + 16);
    expect(resumed.seen.length).toBeLessThanOrEqual(all.length - handledBefore + 200 + 16);
    expect(await queueExists(`${prefix}.catchup-pending:billing:${topic}`)).toBe(false);
  }, 60_000);

  it('a message older than historyRetention is not delivered to a new group', async () => {
    const prefix = uniqueName('rmqh');
    const bus = await transport(prefix, { historyRetention: '2s' });
    const topic = topicName();
    await bus.ensureTopic(topic);
    const sequence = { next: 0 };
    await publishRun(bus, topic, 20, sequence);
    await sleep(2500);
    const recent = await publishRun(bus, topic, 20, sequence);
    const late = await subscribeRecording(bus, lateGroupSpec(topic, 'billing'));
    await until(() => late.seen.length >= 20, 'the recent messages');
    await sleep(500);
    expectOnceInKeyOrder(late.seen, recent);
  });

  it('startFrom "latest" and broadcasting members do not read the history', async () => {
    const prefix = uniqueName('rmqh');
    const bus = await transport(prefix);
    const topic = topicName();
    await bus.ensureTopic(topic);
    const sequence = { next: 0 };
    await publishRun(bus, topic, 20, sequence);
    const latest = await subscribeRecording(bus, lateGroupSpec(topic, 'live', { startFrom: 'latest' }));
    const member = await subscribeRecording(
      bus,
      lateGroupSpec(topic, 'cache', { groupMode: 'broadcasting', mode: 'concurrent' }),
    );
    const after = await publishRun(bus, topic, 10, sequence);
    await until(() => latest.seen.length >= 10 && member.seen.length >= 10, 'the live messages');
    await sleep(500);
    expectOnceInKeyOrder(latest.seen, after);
    expectOnceInKeyOrder(member.seen, after);
  });

  it('refuses a historyRetention or historyMaxBytes it cannot honour, saying what to set', () => {
    const make = (extra: object): RabbitMqTransport =>
      new RabbitMqTransport({ kind: 'rabbitmq', url: RABBITMQ_URL, ...extra });
    expect(() => make({ historyRetention: '5 weeks' })).toThrow(ConfigurationError);
    expect(() => make({ historyRetention: 10 })).toThrow(/historyRetention must be 0 \(no history\) or at least 1 s/);
    expect(() => make({ historyMaxBytes: 10 })).toThrow(/historyMaxBytes must be an integer of at least 1 MiB/);
    expect(make({ historyRetention: 0 }).history.retentionMs).toBe(0);
    expect(make({}).history.retentionMs).toBe(72 * 3_600_000);
  });
});
