import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteTransport, UnknownTopicError } from '@reliable-mq/nestjs';
import {
  expectLateGroupGetsEverything,
  expectOnceInKeyOrder,
  lateGroupSpec,
  publishKeyed,
  sleep,
  subscribeRecording,
  until,
} from '../../libs/reliable-mq/test/late-group';
import { BrokerProcess, TEST_BROKER_TOKEN } from '../support/broker-process';

/**
 * A group that subscribes to a topic for the first time after messages were published to it, on the remote
 * transport against a broker process: the broker's engine decides, as in process.
 */

let dataDir: string;
let broker: BrokerProcess;
/** Deletes what every group consumed 1.5 s after it was stored, checking every 200 ms. */
let shortRetention: BrokerProcess;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'rmq-remote-late-group-'));
  [broker, shortRetention] = await Promise.all([
    BrokerProcess.start({ dataDir: join(dataDir, 'default') }),
    BrokerProcess.start({
      dataDir: join(dataDir, 'short-retention'),
      env: {
        BROKER_ENGINE_OPTIONS: JSON.stringify({ minFreeDiskBytes: 0, retentionMs: 1500, retentionIntervalMs: 200 }),
      },
    }),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([broker?.stop(), shortRetention?.stop()]);
  rmSync(dataDir, { recursive: true, force: true });
});

async function connectTo(server: BrokerProcess): Promise<RemoteTransport> {
  const transport = new RemoteTransport({
    kind: 'remote',
    url: server.url,
    token: TEST_BROKER_TOKEN,
    connectTimeoutMs: 10_000,
  });
  await transport.connect();
  return transport;
}

const topicName = (): string => `t-${randomUUID().slice(0, 8)}`;

describe('remote transport: a group that subscribes late', () => {
  it('gets every message published before its first subscription, once each, in per-key order', async () => {
    const transport = await connectTo(broker);
    try {
      const topic = topicName();
      await transport.ensureTopic(topic);
      await expectLateGroupGetsEverything(transport, topic, 'billing');
    } finally {
      await transport.close();
    }
  });

  it('gets them when the producer and the late group are different connections, the group joining others', async () => {
    const producer = await connectTo(broker);
    const consumers = await connectTo(broker);
    try {
      const topic = topicName();
      await producer.ensureTopic(topic);
      const first = await subscribeRecording(consumers, lateGroupSpec(topic, 'billing'));
      const published = await publishKeyed(producer, topic, 60);
      await until(() => first.seen.length >= 60, 'the first group');
      const late = await subscribeRecording(consumers, lateGroupSpec(topic, 'analytics'));
      await until(() => late.seen.length >= 60, 'the group that joined later');
      await sleep(500);
      expectOnceInKeyOrder(late.seen, published);
    } finally {
      await Promise.all([producer.close(), consumers.close()]);
    }
  });

  it('does not get a message the broker deleted by retention before the group existed', async () => {
    const transport = await connectTo(shortRetention);
    try {
      const topic = topicName();
      await transport.ensureTopic(topic);
      await publishKeyed(transport, topic, 5);
      const stored = async (): Promise<number> => {
        const stats = await transport.stats();
        const queues = stats.topics.find((entry) => entry.topic === topic)?.queues ?? [];
        return queues.reduce((sum, queue) => sum + (queue.maxOffset - queue.minOffset), 0);
      };
      expect(await stored()).toBe(5);
      const deadline = Date.now() + 15_000;
      while ((await stored()) > 0) {
        if (Date.now() > deadline) throw new Error('retention did not delete the messages no group consumed');
        await sleep(100);
      }
      const kept = await publishKeyed(transport, topic, 5);
      const late = await subscribeRecording(transport, lateGroupSpec(topic, 'billing'));
      await until(() => late.seen.length >= 5, 'the messages still retained');
      await sleep(500);
      expectOnceInKeyOrder(late.seen, kept);
      await late.subscription.close(1000);
    } finally {
      await transport.close();
    }
  });

  it('a topic never declared keeps nothing: publishing and subscribing are refused with UnknownTopicError', async () => {
    const transport = await connectTo(broker);
    try {
      const topic = topicName();
      await expect(publishKeyed(transport, topic, 1)).rejects.toBeInstanceOf(UnknownTopicError);
      await expect(subscribeRecording(transport, lateGroupSpec(topic, 'billing'))).rejects.toBeInstanceOf(
        UnknownTopicError,
      );
    } finally {
      await transport.close();
    }
  });
});
