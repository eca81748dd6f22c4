import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerRefusedError, MessageTooLargeError, TransportError } from '@reliable-mq/nestjs';
import { ClientOp, encodeFrame, FrameType, type ResponseFrame } from '@reliable-mq/protocol';
import { RemoteTransport } from '@reliable-mq/nestjs';
import { BrokerProcess, TEST_BROKER_TOKEN } from '../support/broker-process';
import { RawBrokerClient } from '../support/raw-broker-client';

/** Pipelining, frame limits as the client sees them, and a client that gives up cleanly. */

const FRAME_LIMIT = 200_000;
let broker: BrokerProcess;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'rmq-limits-'));
  broker = await BrokerProcess.start({
    dataDir,
    env: { BROKER_TOPICS: 'limits:2', BROKER_MAX_FRAME_BYTES: String(FRAME_LIMIT) },
  });
}, 60_000);

afterAll(async () => {
  await broker?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('pipelining', () => {
  it('answers many calls sent in one write, each by its id, and stores publishes of one connection in order', async () => {
    const client = await RawBrokerClient.open(broker.port, TEST_BROKER_TOKEN);
    const ids = Array.from({ length: 60 }, () => randomUUID());
    const frames = ids.map((id, index) =>
      index % 3 === 0
        ? encodeFrame({ t: FrameType.REQUEST, id: 100 + index, op: ClientOp.PING, a: {} })
        : index % 3 === 1
          ? encodeFrame({ t: FrameType.REQUEST, id: 100 + index, op: ClientOp.STATS, a: {} })
          : encodeFrame({
              t: FrameType.REQUEST,
              id: 100 + index,
              op: ClientOp.PUBLISH,
              a: { messages: [{ id, topic: 'limits', key: 'one-key', body: Buffer.from(String(index)) }] },
            }),
    );
    client.writeBytes(Buffer.concat(frames));
    for (let index = 0; index < frames.length; index++) {
      const answer = await client.waitFor((frame) => frame.t === FrameType.RESPONSE && frame.id === 100 + index);
      expect(answer.t).toBe(FrameType.RESPONSE);
    }
    const offsets = ids
      .map((_, index) => index)
      .filter((index) => index % 3 === 2)
      .map(
        (index) =>
          (
            (client.frames.find((frame) => frame.t === FrameType.RESPONSE && frame.id === 100 + index) as ResponseFrame)
              .r as { confirms: Array<{ offset: number }> }
          ).confirms[0]!.offset,
      );
    // One key, one queue: offsets follow the order the calls were written in.
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    client.destroy();
  });
});

describe('limits seen from the remote transport', () => {
  it('refuses a body over the broker limit locally, and the connection carries on', async () => {
    const transport = new RemoteTransport({ kind: 'remote', url: broker.url, token: TEST_BROKER_TOKEN });
    await transport.connect();
    try {
      await expect(
        transport.publish([{ id: randomUUID(), topic: 'limits', headers: {}, body: Buffer.alloc(FRAME_LIMIT) }]),
      ).rejects.toBeInstanceOf(MessageTooLargeError);
      await expect(transport.deadLetters.resend([1], { body: Buffer.alloc(FRAME_LIMIT + 10) })).rejects.toSatisfy(
        (error: unknown) => error instanceof BrokerRefusedError && error.brokerCode === 'FRAME_TOO_LARGE',
      );
      expect(transport.isConnected).toBe(true);
      const [confirm] = await transport.publish([
        { id: randomUUID(), topic: 'limits', headers: {}, body: Buffer.from('fits') },
      ]);
      expect(confirm!.duplicate).toBe(false);
    } finally {
      await transport.close();
    }
  });

  it('splits a batch larger than one frame into several calls', async () => {
    const transport = new RemoteTransport({ kind: 'remote', url: broker.url, token: TEST_BROKER_TOKEN });
    await transport.connect();
    try {
      const batch = Array.from({ length: 12 }, () => ({
        id: randomUUID(),
        topic: 'limits',
        headers: {},
        body: Buffer.alloc(60_000, 1),
      }));
      const confirms = await transport.publish(batch);
      expect(confirms.map((confirm) => confirm.id)).toEqual(batch.map((message) => message.id));
    } finally {
      await transport.close();
    }
  });

  it('stops trying once connect() has given up', async () => {
    let attempts = 0;
    const refuser = createServer((socket) => {
      attempts++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => refuser.listen(0, '127.0.0.1', resolve));
    const port = (refuser.address() as AddressInfo).port;
    try {
      const transport = new RemoteTransport({
        kind: 'remote',
        url: `reliable-mq://127.0.0.1:${port}`,
        token: 'x',
        connectTimeoutMs: 400,
        reconnectDelayMs: 20,
        reconnectMaxDelayMs: 50,
      });
      await expect(transport.connect()).rejects.toBeInstanceOf(TransportError);
      const after = attempts;
      expect(after).toBeGreaterThan(1);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(attempts).toBeLessThanOrEqual(after + 1);
      await transport.close();
    } finally {
      refuser.close();
    }
  });
});
