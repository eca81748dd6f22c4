import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ClientOp,
  FrameType,
  ServerEvent,
  type EventFrame,
  type Frame,
  type PublishBatchResult,
  type WireDelivery,
} from '@reliable-mq/protocol';
import { RawBrokerClient } from '../../../test/support/raw-broker-client';
import { startInProcessBroker, type InProcessBroker } from '../test/in-process-broker';
import type { BrokerServer } from './broker-server';

const TOKEN = 'batching-token-42';
const TOPIC = 'batching.topic';
let broker: InProcessBroker;
let server: BrokerServer;
let seq = 0;

beforeAll(async () => {
  broker = await startInProcessBroker({ token: TOKEN, topics: [{ name: TOPIC, queueCount: 2 }] });
  server = broker.server;
});

afterAll(async () => {
  await broker.dispose();
});

const message = (id: string, topic = TOPIC) => ({ id, topic, key: id, body: Buffer.from(id) });
const open = (hello: Record<string, unknown> = {}) => RawBrokerClient.open(server.address.port, TOKEN, hello);

/** The deliveries received so far, from `deliver` and `deliver.batch` events alike. */
function deliveries(frames: Frame[]): WireDelivery[] {
  return frames
    .filter((frame): frame is EventFrame => frame.t === FrameType.EVENT)
    .flatMap((frame) =>
      frame.op === ServerEvent.DELIVER
        ? [frame.a as WireDelivery]
        : frame.op === ServerEvent.DELIVER_BATCH
          ? (frame.a as { deliveries: WireDelivery[] }).deliveries
          : [],
    );
}

async function subscribe(client: RawBrokerClient, group: string, prefetch: number): Promise<void> {
  const answer = await client.call(ClientOp.SUBSCRIBE, {
    sub: 1,
    group,
    topic: TOPIC,
    mode: 'concurrent',
    prefetch,
    maxReconsumeTimes: 3,
    startFrom: 'latest',
  });
  expect(answer.t).toBe(FrameType.RESPONSE);
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

describe('broker server: batched calls and deliveries', () => {
  it('announces batching in its hello answer', async () => {
    const client = await open();
    expect(client.hello.batching).toBe(true);
    client.destroy();
  });

  it('answers each call of a publish.batch as if sent alone: confirms, its own error, duplicates', async () => {
    const client = await open();
    const id = (name: string) => `pb-${seq}-${name}`;
    seq++;
    const calls = [
      { messages: [message(id('a'))] },
      { messages: [message(id('x'), 'no.such.topic')] },
      { messages: [message(id('b')), message(id('c'))] },
      { messages: [message('i'.repeat(300))] },
    ];
    const answer = await client.call(ClientOp.PUBLISH_BATCH, { calls });
    expect(answer.t).toBe(FrameType.RESPONSE);
    const { results } = (answer as { r: PublishBatchResult }).r;
    expect(results).toHaveLength(4);
    expect(results[0]).toMatchObject({ confirms: [{ id: id('a'), duplicate: false }] });
    expect(results[1]).toMatchObject({ error: { code: 'UNKNOWN_TOPIC' } });
    expect(results[2]).toMatchObject({
      confirms: [
        { id: id('b'), duplicate: false },
        { id: id('c'), duplicate: false },
      ],
    });
    expect(results[3]).toMatchObject({ error: { code: 'INVALID_ARGUMENT' } });

    const again = await client.call(ClientOp.PUBLISH_BATCH, { calls: [calls[0], calls[2]] });
    expect((again as { r: PublishBatchResult }).r.results).toMatchObject([
      { confirms: [{ id: id('a'), duplicate: true }] },
      { confirms: [{ duplicate: true }, { duplicate: true }] },
    ]);
    // The connection goes on.
    expect((await client.call(ClientOp.PING, {})).t).toBe(FrameType.RESPONSE);
    client.destroy();
  });

  it('pushes a tick’s deliveries in one deliver.batch to a client that asked, and takes their acks in one ack.batch', async () => {
    const consumer = await open({ batching: true });
    const producer = await open();
    await subscribe(consumer, `batch-group-${seq++}`, 5);
    const ids = Array.from({ length: 5 }, (_, i) => `db-${seq}-${i}`);
    await producer.call(ClientOp.PUBLISH, { messages: ids.map((id) => message(id)) });
    await until(() => deliveries(consumer.frames).length === 5, 'five deliveries');
    expect(consumer.frames.some((frame) => frame.t === FrameType.EVENT && frame.op === ServerEvent.DELIVER_BATCH)).toBe(
      true,
    );
    expect(
      deliveries(consumer.frames)
        .map((delivery) => delivery.id)
        .sort(),
    ).toEqual([...ids].sort());

    // The prefetch is used up: the next messages come only once the batch of acks returned the credit.
    const later = [`db-${seq}-later-1`, `db-${seq}-later-2`];
    await producer.call(ClientOp.PUBLISH, { messages: later.map((id) => message(id)) });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(deliveries(consumer.frames)).toHaveLength(5);
    consumer.request(ClientOp.ACK_BATCH, { tags: deliveries(consumer.frames).map((delivery) => delivery.tag) }, 0);
    await until(() => deliveries(consumer.frames).length === 7, 'the later deliveries');
    expect(
      deliveries(consumer.frames)
        .slice(5)
        .map((delivery) => delivery.id)
        .sort(),
    ).toEqual(later);
    consumer.destroy();
    producer.destroy();
  });

  it('pushes one deliver event per delivery to a client that did not ask for batches', async () => {
    const consumer = await open();
    const producer = await open();
    await subscribe(consumer, `plain-group-${seq++}`, 8);
    await producer.call(ClientOp.PUBLISH, { messages: [1, 2, 3].map((n) => message(`plain-${seq}-${n}`)) });
    await until(() => deliveries(consumer.frames).length === 3, 'three deliveries');
    const events = consumer.frames.filter((frame) => frame.t === FrameType.EVENT);
    expect(events.map((frame) => (frame as EventFrame).op)).toEqual([
      ServerEvent.DELIVER,
      ServerEvent.DELIVER,
      ServerEvent.DELIVER,
    ]);
    consumer.destroy();
    producer.destroy();
  });
});
