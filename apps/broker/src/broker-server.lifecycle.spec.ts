import { BrokerEngine, DataDirectoryInUseError } from '@reliable-mq/engine';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ClientOp,
  FrameType,
  ProtocolErrorCode,
  ServerEvent,
  type ErrorFrame,
  type EventFrame,
} from '@reliable-mq/protocol';
import { RawBrokerClient } from '../../../test/support/raw-broker-client';
import { brokerConfig } from './broker-config';
import { silentBrokerLogger } from './broker-logger';
import { BrokerServer } from './broker-server';

const TOKEN = 'lifecycle-token-1';
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function start(dataDir: string): Promise<BrokerServer> {
  return BrokerServer.start(
    brokerConfig({
      dataDir,
      port: 0,
      healthPort: 0,
      token: TOKEN,
      topics: [{ name: 'life', queueCount: 1 }],
      engine: { minFreeDiskBytes: 0 },
    }),
    { logger: silentBrokerLogger },
  );
}

describe('broker server: health endpoint and graceful shutdown', () => {
  it('serves /health, /ready and /metrics, and nothing else', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rmq-life-'));
    dirs.push(dataDir);
    const server = await start(dataDir);
    try {
      const base = `http://127.0.0.1:${server.healthAddress!.port}`;
      const health = await fetch(`${base}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok', state: 'ready', protocol: 1 });
      expect((await fetch(`${base}/ready`)).status).toBe(200);
      expect((await fetch(`${base}/metrics`)).status).toBe(200);
      expect((await fetch(`${base}/status`)).status).toBe(404);
      expect((await fetch(`${base}/ready`, { method: 'POST' })).status).toBe(405);
    } finally {
      await server.shutdown(2_000);
    }
  });

  it("refuses to start on a data directory another engine holds, with the engine's own error and message", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rmq-life-'));
    dirs.push(dataDir);
    const first = await start(dataDir);
    try {
      const refused = await start(dataDir).catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(DataDirectoryInUseError);
      expect(refused).toMatchObject({
        code: 'DATA_DIR_IN_USE',
        message: new DataDirectoryInUseError(dataDir).message,
      });
      // The first one is untouched.
      const client = await RawBrokerClient.open(first.address.port, TOKEN);
      const answer = await client.call(ClientOp.PUBLISH, {
        messages: [{ id: randomUUID(), topic: 'life', body: Buffer.from('x') }],
      });
      expect(answer.t).toBe(FrameType.RESPONSE);
      client.destroy();
    } finally {
      await first.shutdown(2_000);
    }
  });

  it('drains: stops accepting, tells clients to go, waits for their acks and confirms, then closes the engine', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'rmq-life-'));
    dirs.push(dataDir);
    const server = await start(dataDir);
    const base = `http://127.0.0.1:${server.healthAddress!.port}`;
    const client = await RawBrokerClient.open(server.address.port, TOKEN);
    const id = randomUUID();
    expect((await client.call(ClientOp.PUBLISH, { messages: [{ id, topic: 'life', body: Buffer.from('x') }] })).t).toBe(
      FrameType.RESPONSE,
    );
    await client.call(ClientOp.SUBSCRIBE, {
      sub: 1,
      group: 'life-group',
      topic: 'life',
      mode: 'concurrent',
      prefetch: 4,
      maxReconsumeTimes: 2,
      startFrom: 'earliest',
      memberId: 'm',
    });
    const delivery = (await client.waitFor(
      (frame) => frame.t === FrameType.EVENT && frame.op === ServerEvent.DELIVER,
    )) as EventFrame;
    const tag = (delivery.a as { tag: number }).tag;

    const stopping = server.shutdown(10_000);
    await client.waitFor((frame) => frame.t === FrameType.EVENT && frame.op === ServerEvent.GOAWAY);
    expect((await fetch(`${base}/ready`)).status).toBe(503);
    // New work is refused, without dropping the connection: the held delivery can still be acked.
    const refused = (await client.call(ClientOp.PUBLISH, {
      messages: [{ id: randomUUID(), topic: 'life', body: Buffer.from('y') }],
    })) as ErrorFrame;
    expect(refused.e.code).toBe(ProtocolErrorCode.SHUTTING_DOWN);
    await expect(RawBrokerClient.open(server.address.port, TOKEN)).rejects.toThrow();
    client.request(ClientOp.ACK, { tag }, 0);
    await stopping;
    await client.closedPromise;
    expect(server.engine.isOpen).toBe(false);

    // The ack was flushed: the message is not handed out again after a restart.
    const engine = BrokerEngine.open({ dataDir, minFreeDiskBytes: 0 });
    try {
      const again: string[] = [];
      const sub = await engine.subscribe({
        group: 'life-group',
        topic: 'life',
        startFrom: 'earliest',
        handler: async (d) => void again.push(d.originalMessageId),
      });
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(again).toEqual([]);
      await sub.close(1_000);
    } finally {
      await engine.close();
    }
  });
});
