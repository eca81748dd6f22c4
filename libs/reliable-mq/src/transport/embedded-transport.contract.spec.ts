import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { transportContract, transportContractCases, type TransportFixture } from '../testing/transport.contract';
import { EmbeddedTransport } from './embedded.transport';
import type { InboundHandler, SubscriptionSpec, Transport, TransportMessage } from './transport.interface';

async function embeddedFixture(): Promise<TransportFixture> {
  const dataDir = mkdtempSync(join(tmpdir(), 'rmq-transport-'));
  const transport = new EmbeddedTransport({ kind: 'embedded', dataDir, engine: { minFreeDiskBytes: 0 } });
  await transport.connect();
  return {
    transport,
    capabilities: { idempotentPublish: true },
    newTopic: async () => {
      const topic = `t-${randomUUID().slice(0, 8)}`;
      await transport.ensureTopic(topic);
      return topic;
    },
    cleanup: async () => {
      await transport.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

transportContract('embedded', embeddedFixture);

/** Wraps a working transport and breaks one promise of the contract. */
function broken(fixture: TransportFixture, patch: Partial<Transport>): TransportFixture {
  const inner = fixture.transport;
  const transport: Transport = {
    kind: 'broken',
    connect: () => inner.connect(),
    ensureTopic: (topic) => inner.ensureTopic(topic),
    publish: (batch) => inner.publish(batch),
    subscribe: (spec, handler) => inner.subscribe(spec, handler),
    deadLetters: inner.deadLetters,
    close: () => inner.close(),
    ...patch,
  };
  return { ...fixture, transport };
}

/** Each breakage, and the contract case that must catch it. */
const breakages: Array<{ name: string; caughtBy: string; breakage: (fixture: TransportFixture) => TransportFixture }> = [
  {
    name: 'acks before the handler finishes and swallows failures',
    caughtBy: 'the message is acked only after the handler resolves',
    breakage: (fixture) =>
      broken(fixture, {
        subscribe: (spec: SubscriptionSpec, handler: InboundHandler) =>
          fixture.transport.subscribe(spec, async (message) => {
            void handler(message).catch(() => undefined);
          }),
      }),
  },
  {
    name: 'confirms a publish without storing it',
    caughtBy: 'a subscriber receives body',
    breakage: (fixture) =>
      broken(fixture, {
        publish: async (batch: readonly TransportMessage[]) =>
          batch.map((message) => ({ id: message.id, duplicate: false })),
      }),
  },
  {
    name: 'reorders deliveries of one key',
    caughtBy: 'an orderly subscription',
    breakage: (fixture) =>
      broken(fixture, {
        subscribe: (spec: SubscriptionSpec, handler: InboundHandler) =>
          fixture.transport.subscribe({ ...spec, mode: 'concurrent' }, (message) =>
            new Promise((resolve, reject) => setTimeout(() => handler(message).then(resolve, reject), Math.random() * 30)),
          ),
      }),
  },
  {
    name: 'drops messages whose handler failed',
    caughtBy: 'after maxReconsumeTimes failures',
    breakage: (fixture) =>
      broken(fixture, {
        subscribe: (spec: SubscriptionSpec, handler: InboundHandler) =>
          fixture.transport.subscribe(spec, (message) => handler(message).catch(() => undefined)),
      }),
  },
];

describe('the transport contract catches broken transports', () => {
  for (const { name, caughtBy, breakage } of breakages) {
    it(`fails a transport that ${name}`, async () => {
      const contractCase = transportContractCases.find((candidate) => candidate.name.startsWith(caughtBy));
      expect(contractCase).toBeDefined();
      const fixture = breakage(await embeddedFixture());
      try {
        await expect(contractCase!.run(fixture)).rejects.toThrow();
      } finally {
        await fixture.cleanup?.();
      }
    }, 60_000);
  }
});
