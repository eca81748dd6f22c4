import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { deleteRabbitMqObjects } from '../../../../../test/support/rabbitmq-admin';
import { holdSharedRabbitMq } from '../../../../../test/support/rabbitmq-outage-lock';
import { RABBITMQ_URL, describeWithService, uniqueName } from '../../../../../test/support/services';
import { transportContract, transportContractCases, type TransportFixture } from '../../testing/transport.contract';
import type { InboundHandler, SubscriptionSpec, Transport, TransportMessage } from '../transport.interface';
import { RabbitMqTransport } from './rabbitmq.transport';

const quiet = { log: () => undefined, warn: () => undefined, error: (message: string) => console.error(message) };

/** A transport under a prefix of its own, so that every name it declares is unique to this test, and removed after. */
export async function rabbitMqFixture(): Promise<TransportFixture> {
  const transport = new RabbitMqTransport(
    { kind: 'rabbitmq', url: RABBITMQ_URL, prefix: uniqueName('rmqc'), orderlyQueueCount: 2 },
    { logger: quiet },
  );
  await transport.connect();
  return {
    transport,
    newTopic: async () => {
      const topic = `t-${randomUUID().slice(0, 8)}`;
      await transport.ensureTopic(topic);
      return topic;
    },
    cleanup: async () => {
      await transport.close();
      await deleteRabbitMqObjects(transport.declaredTopology());
    },
  };
}

describeWithService('rabbitmq', 'RabbitMQ transport', () => {
  holdSharedRabbitMq();

  transportContract('rabbitmq', rabbitMqFixture);

  /** Wraps a working transport and breaks one promise of the contract. */
  function broken(fixture: TransportFixture, patch: Partial<Transport>): TransportFixture {
    const inner = fixture.transport;
    const transport: Transport = {
      kind: 'broken-rabbitmq',
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

  const breakages: Array<{
    name: string;
    caughtBy: string;
    breakage: (fixture: TransportFixture) => TransportFixture;
  }> = [
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
      name: 'confirms a publish without sending it',
      caughtBy: 'a subscriber receives body',
      breakage: (fixture) =>
        broken(fixture, {
          publish: async (batch: readonly TransportMessage[]) =>
            batch.map((message) => ({ id: message.id, duplicate: false })),
        }),
    },
    {
      name: 'consumes an orderly subscription concurrently, with jitter',
      caughtBy: 'an orderly subscription',
      breakage: (fixture) =>
        broken(fixture, {
          subscribe: (spec: SubscriptionSpec, handler: InboundHandler) =>
            fixture.transport.subscribe(
              { ...spec, mode: 'concurrent' },
              (message) =>
                new Promise((resolve, reject) =>
                  setTimeout(() => handler(message).then(resolve, reject), Math.random() * 30),
                ),
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
    {
      name: 'sends a batch without checking its topics first',
      caughtBy: 'publishing to an unknown topic',
      breakage: (fixture) =>
        broken(fixture, {
          publish: async (batch: readonly TransportMessage[]) => {
            const known = batch.filter((message) => !message.topic.startsWith('missing-'));
            await fixture.transport.publish(known);
            return batch.map((message) => ({ id: message.id, duplicate: false }));
          },
        }),
    },
  ];

  for (const { name, caughtBy, breakage } of breakages) {
    it(`the contract fails a RabbitMQ transport that ${name}`, async () => {
      const contractCase = transportContractCases.find((candidate) => candidate.name.startsWith(caughtBy));
      expect(contractCase).toBeDefined();
      const fixture = breakage(await rabbitMqFixture());
      try {
        await expect(contractCase!.run(fixture)).rejects.toThrow();
      } finally {
        await fixture.cleanup?.();
      }
    }, 60_000);
  }
});
