import { describe, it } from 'vitest';
import {
  acksBeforeHandlerFinishes,
  brokenTransport,
  confirmsWithoutPublishing,
  dropsFailedMessages,
  expectContractToCatch,
  reordersOrderlyDeliveries,
  type BreakageCase,
} from '../../../test/broken-transports';
import { randomTopics } from '../../../test/random-topics';
import { deleteRabbitMqObjects } from '../../../../../test/support/rabbitmq-admin';
import { RABBITMQ_URL, describeWithService, uniqueName } from '../../../../../test/support/services';
import { transportContract, type TransportFixture } from '../../testing/transport.contract';
import type { TransportMessage } from '../transport.interface';
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
    newTopic: randomTopics(transport),
    cleanup: async () => {
      await transport.close();
      await deleteRabbitMqObjects(transport.declaredTopology());
    },
  };
}

describeWithService('rabbitmq', 'RabbitMQ transport', () => {
  transportContract('rabbitmq', rabbitMqFixture, { describe, it });

  const kind = 'broken-rabbitmq';
  const breakages: BreakageCase[] = [
    {
      name: 'acks before the handler finishes and swallows failures',
      caughtBy: 'the message is acked only after the handler resolves',
      breakage: acksBeforeHandlerFinishes(kind),
    },
    {
      name: 'confirms a publish without sending it',
      caughtBy: 'a subscriber receives body',
      breakage: confirmsWithoutPublishing(kind),
    },
    {
      name: 'consumes an orderly subscription concurrently, with jitter',
      caughtBy: 'an orderly subscription',
      breakage: reordersOrderlyDeliveries(kind),
    },
    {
      name: 'drops messages whose handler failed',
      caughtBy: 'after maxReconsumeTimes failures',
      breakage: dropsFailedMessages(kind),
    },
    {
      name: 'sends a batch without checking its topics first',
      caughtBy: 'publishing to an unknown topic',
      breakage: (fixture) =>
        brokenTransport(fixture, kind, {
          publish: async (batch: readonly TransportMessage[]) => {
            const known = batch.filter((message) => !message.topic.startsWith('missing-'));
            await fixture.transport.publish(known);
            return batch.map((message) => ({ id: message.id, duplicate: false }));
          },
        }),
    },
  ];

  for (const breakage of breakages) {
    it(
      `the contract fails a RabbitMQ transport that ${breakage.name}`,
      () => expectContractToCatch(breakage, rabbitMqFixture),
      60_000,
    );
  }
});
