import {
  BrokerEngine,
  DeliveryReleasedError,
  WorkerEngine,
  type Delivery,
  type SubscribeOptions,
} from '@reliable-mq/engine';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDataDir, until } from '../../test/engine-test-kit';

type AnyEngine = BrokerEngine | WorkerEngine;

const HOSTS: Array<{ name: string; open: (dataDir: string) => Promise<AnyEngine> }> = [
  { name: 'in this thread', open: async (dataDir) => BrokerEngine.open({ dataDir, minFreeDiskBytes: 0 }) },
  { name: 'on a worker thread', open: (dataDir) => WorkerEngine.open({ dataDir, minFreeDiskBytes: 0 }) },
];

/** A handler that rejects with DeliveryReleasedError gives its message back: no failure, no delivery counted. */
describe.each(HOSTS)('a released delivery, engine $name', (host) => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** An engine with group `g` on topic `t`; `failure` says what the handler throws at the n-th delivery, if anything. */
  async function subscribed(
    options: Partial<SubscribeOptions>,
    failure: (delivered: number) => Error | undefined,
  ): Promise<{ engine: AnyEngine; seen: Delivery[] }> {
    const temp = tempDataDir();
    const engine = await host.open(temp.dir);
    cleanups.push(temp.cleanup, () => engine.close(1000));
    await engine.createTopic('t', { queueCount: 1 });
    const seen: Delivery[] = [];
    await engine.subscribe({
      group: 'g',
      topic: 't',
      ...options,
      handler: async (delivery) => {
        seen.push(delivery);
        const error = failure(seen.length);
        if (error) throw error;
      },
    });
    return { engine, seen };
  }

  it('comes back as a first delivery, with no retry copy and nothing in the DLQ', async () => {
    const { engine, seen } = await subscribed({}, (delivered) =>
      delivered === 1 ? new DeliveryReleasedError('not now') : undefined,
    );
    await engine.publish([{ topic: 't', body: 'once' }]);
    await until(() => seen.length === 2, 5000, 'the released message to come back');
    expect(
      seen.map(({ messageId, deliveryCount, reconsumeTimes, sourceTopic }) => ({
        messageId,
        deliveryCount,
        reconsumeTimes,
        sourceTopic,
      })),
    ).toEqual([
      { messageId: seen[0]!.messageId, deliveryCount: 1, reconsumeTimes: 0, sourceTopic: 't' },
      { messageId: seen[0]!.messageId, deliveryCount: 1, reconsumeTimes: 0, sourceTopic: 't' },
    ]);
    await until(
      async () => (await engine.stats()).groups.every((group) => group.inFlight === 0 && group.lag === 0),
      5000,
      'the second delivery to be acked',
    );
    expect((await engine.listDeadLetters({ group: 'g' })).total).toBe(0);
    expect(seen).toHaveLength(2);
  });

  it("does not come from an error that only bears its name (a remote client's failure): that one is a failure", async () => {
    const { engine, seen } = await subscribed({ retry: { delayLevels: '1ms', maxReconsumeTimes: 3 } }, (delivered) =>
      delivered === 1 ? Object.assign(new Error('named like a release'), { name: 'DeliveryReleasedError' }) : undefined,
    );
    await engine.publish([{ topic: 't', body: 'once' }]);
    await until(() => seen.length === 2, 5000, 'the retry');
    expect(seen.map((delivery) => delivery.reconsumeTimes)).toEqual([0, 1]);
  });
});
