import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { RemoteTransport } from '@reliable-mq/nestjs';
import { transportContract, type TransportFixture } from '@reliable-mq/nestjs/testing';
import { BrokerProcess, TEST_BROKER_TOKEN } from '../support/broker-process';

/** The shared transport contract, run by the remote transport against a real broker process over TCP. */

let broker: BrokerProcess;
let dataDir: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'rmq-remote-contract-'));
  broker = await BrokerProcess.start({ dataDir });
}, 60_000);

afterAll(async () => {
  await broker?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function remoteFixture(): Promise<TransportFixture> {
  const transport = new RemoteTransport({
    kind: 'remote',
    url: broker.url,
    token: TEST_BROKER_TOKEN,
    connectTimeoutMs: 10_000,
  });
  await transport.connect();
  return {
    transport,
    capabilities: { idempotentPublish: true },
    newTopic: async () => {
      const topic = `t-${randomUUID().slice(0, 8)}`;
      await transport.ensureTopic(topic);
      return topic;
    },
    cleanup: () => transport.close(),
  };
}

transportContract('remote (broker process over TCP)', remoteFixture, { describe, it });
