import { SpanStatusCode } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InMemoryTelemetry } from '../../../../test/support/in-memory-telemetry';
import { FakeTransport, MemoryLogger, TestDatabase } from '../../../../test/support/outbox-test-kit';
import { BrokerRefusedError } from '../errors/broker-refused.error';
import { TransportUnavailableError } from '../errors/transport-unavailable.error';
import { MessagingAttribute as A } from '../observability/messaging-attributes';
import { HOT_PATH_METRICS as M } from '../observability/metric-names';
import { ReliablePublisher } from '../producing/reliable-publisher.service';
import { OutboxRelay } from './outbox-relay';

/** What the relay records when the broker confirms, refuses, or cannot be reached. */
describe('OutboxRelay telemetry', () => {
  let telemetry: InMemoryTelemetry;
  let db: TestDatabase;
  let transport: FakeTransport;
  let publisher: ReliablePublisher;
  let relay: OutboxRelay;

  beforeEach(async () => {
    telemetry = InMemoryTelemetry.install();
    db = await TestDatabase.create('sqlite', { postgres: '', mariadb: '' }, 'relay-telemetry');
    transport = new FakeTransport();
    publisher = new ReliablePublisher({ dataSource: db.dataSource, transport, producerGroup: 'order-service' });
    relay = new OutboxRelay({
      dataSource: db.dataSource,
      transport,
      logger: new MemoryLogger(),
      options: { maxAttempts: 2, backoffBaseMs: 10, backoffMaxMs: 20 },
    });
  });

  afterEach(async () => {
    await relay.stop();
    publisher.close();
    await db.dispose();
    await telemetry.uninstall();
  });

  const commit = (key: string): Promise<string> =>
    publisher.transaction((manager) => publisher.publish({ topic: 'orders', key, payload: { key } }, { manager }));
  const rows = (outcome: string): Promise<number> => telemetry.total(M.relayRows.name, { [A.outcome]: outcome });

  it('counts rows sent, failed, dead and held back, and marks the failed sends on their spans', async () => {
    await commit('sent');
    await relay.flush();
    expect(await rows('sent')).toBe(1);
    expect(await telemetry.total(M.commitToSend.name)).toBe(1);
    expect(
      await telemetry.total(M.sentMessages.name, { [A.destinationName]: 'orders', [A.errorType]: undefined }),
    ).toBe(1);

    transport.behaviour = () => {
      throw new BrokerRefusedError('STORAGE_FULL', 'the broker is out of disk');
    };
    await commit('refused');
    await relay.flush();
    expect(await rows('failed')).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await relay.flush();
    expect(await rows('dead')).toBe(1);
    expect(await rows('failed')).toBe(1);
    expect(await telemetry.total(M.sentMessages.name, { [A.errorType]: 'BrokerRefusedError' })).toBe(2);
    const refused = telemetry.named('send orders').filter((span) => span.status.code === SpanStatusCode.ERROR);
    expect(refused).toHaveLength(2);
    expect(refused[0]!.attributes[A.errorType]).toBe('BrokerRefusedError');

    transport.behaviour = () => {
      throw new TransportUnavailableError('the connection went away');
    };
    await commit('held');
    await relay.flush();
    expect(await rows('held')).toBe(1);
    expect(await telemetry.total(M.sentMessages.name, { [A.errorType]: 'TransportUnavailableError' })).toBe(1);
    expect(await rows('sent')).toBe(1);
    expect(await telemetry.total(M.commitToSend.name)).toBe(1);
  });
});
