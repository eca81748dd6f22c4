import { Injectable } from '@nestjs/common';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BrokerRefusedError,
  MessageTooLargeError,
  MqConsumer,
  ReliableMqModule,
  RemoteTransport,
  UnknownTopicError,
  type PayloadSchema,
} from '@reliable-mq/nestjs';
import { cleanupAfterEach, startTestingModule } from '../../libs/reliable-mq/test/testing-module';
import { BrokerProcess, TEST_BROKER_TOKEN } from '../support/broker-process';
import { OrderPayloadDto } from '../support/order-payload.dto';

/**
 * `payload.validate` end to end: a console-like client asks the broker process, which forwards the check to a live
 * Nest application consuming the group; the application answers with its @MqConsumer's DTO or schema check, without
 * running the handler.
 */

const suffix = randomUUID().slice(0, 8);
const CHARGES = `charges-${suffix}`;
const STOCK = `stock-${suffix}`;
let broker: BrokerProcess;
let dataDir: string;
let asker: RemoteTransport;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'rmq-remote-validate-'));
  broker = await BrokerProcess.start({ dataDir, env: { BROKER_VALIDATE_TIMEOUT_MS: '2000' } });
  asker = new RemoteTransport({ kind: 'remote', url: broker.url, token: TEST_BROKER_TOKEN, connectTimeoutMs: 5_000 });
  await asker.connect();
}, 60_000);

afterAll(async () => {
  await asker?.close();
  await broker?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const cleanups = cleanupAfterEach();

/** The charges topic's payload: an order's, under the name the answers report (`dto:ChargeDto`). */
class ChargeDto extends OrderPayloadDto {}

const stockSchema: PayloadSchema<{ sku: string; quantity: number }> = {
  parse(input: unknown) {
    const value = input as { sku?: unknown; quantity?: unknown } | null;
    if (typeof value?.sku !== 'string') throw new Error('sku must be a string');
    if (typeof value.quantity !== 'number' || value.quantity < 1) throw new Error('quantity must be at least 1');
    return { sku: value.sku, quantity: value.quantity };
  },
};

@Injectable()
class Consumers {
  calls = 0;

  @MqConsumer<ChargeDto>({ topic: CHARGES, group: 'billing', dto: ChargeDto })
  async charge(): Promise<void> {
    this.calls++;
  }

  @MqConsumer<{ sku: string; quantity: number }>({ topic: STOCK, group: 'warehouse', schema: stockSchema })
  async reserve(): Promise<void> {
    this.calls++;
  }

  @MqConsumer({ topic: STOCK, group: 'audit-trail' })
  async record(): Promise<void> {
    this.calls++;
  }
}

async function startConsumers() {
  return startTestingModule(
    {
      imports: [
        ReliableMqModule.forRoot({
          producerGroup: 'validation-test',
          transport: {
            kind: 'remote',
            url: broker.url,
            token: TEST_BROKER_TOKEN,
            topics: [CHARGES, STOCK],
            connectTimeoutMs: 5_000,
          },
        } as never),
      ],
      providers: [Consumers],
    },
    cleanups,
  );
}

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value), 'utf8');

describe('payload.validate through the broker process', () => {
  it("answers with the live consumer's DTO check, without running the handler", async () => {
    const { app } = await startConsumers();
    const consumers = app.get(Consumers);

    const valid = await asker.validatePayload(
      'billing',
      CHARGES,
      json({ orderId: 'o-1', card: '4242424242424242', currency: 'EUR' }),
    );
    expect(valid).toEqual({ status: 'valid', handler: 'Consumers.charge', validation: 'dto:ChargeDto' });

    const invalid = await asker.validatePayload(
      'billing',
      CHARGES,
      json({ orderId: 'o-1', card: 'abc', currency: 'GBP' }),
    );
    expect(invalid).toMatchObject({ status: 'invalid', handler: 'Consumers.charge', validation: 'dto:ChargeDto' });
    if (invalid.status !== 'invalid') throw new Error('expected invalid');
    expect(invalid.errors).toHaveLength(1);
    expect(invalid.errors[0]).toContain('Payload failed validation against ChargeDto');
    expect(invalid.errors[0]).toContain('card: card must be 12 to 19 digits');
    expect(invalid.errors[0]).toContain('currency');

    const notJson = await asker.validatePayload('billing', CHARGES, Buffer.from('{"orderId":', 'utf8'));
    expect(notJson).toMatchObject({ status: 'invalid' });
    if (notJson.status === 'invalid') expect(notJson.errors[0]).toContain('Payload is not valid JSON');

    const array = await asker.validatePayload('billing', CHARGES, json([1, 2]));
    expect(array).toMatchObject({ status: 'invalid' });
    if (array.status === 'invalid') expect(array.errors[0]).toContain('expected an object');
    expect(consumers.calls).toBe(0);
  });

  it("answers with the live consumer's schema check, and accepts any JSON for a handler without one", async () => {
    const { app } = await startConsumers();
    expect(await asker.validatePayload('warehouse', STOCK, json({ sku: 'a-1', quantity: 2 }))).toEqual({
      status: 'valid',
      handler: 'Consumers.reserve',
      validation: 'schema',
    });
    const invalid = await asker.validatePayload('warehouse', STOCK, json({ sku: 'a-1', quantity: 0 }));
    expect(invalid).toEqual({
      status: 'invalid',
      errors: ['Payload failed schema validation: quantity must be at least 1'],
      handler: 'Consumers.reserve',
      validation: 'schema',
    });
    expect(await asker.validatePayload('audit-trail', STOCK, json({ anything: true }))).toEqual({
      status: 'valid',
      handler: 'Consumers.record',
      validation: 'none',
    });
    expect(app.get(Consumers).calls).toBe(0);
  });

  it('is unavailable once the group has no live member, and refuses unknown groups, topics and oversized payloads', async () => {
    const started = await startConsumers();
    expect(await asker.validatePayload('billing', CHARGES, json({}))).toMatchObject({ status: 'invalid' });
    await started.close();
    const gone = await asker.validatePayload('billing', CHARGES, json({}));
    expect(gone).toEqual({
      status: 'unavailable',
      reason: `no member of group "billing" consuming "${CHARGES}" is connected`,
    });

    const unknownGroup = await asker.validatePayload('nobody', CHARGES, json({})).catch((error: unknown) => error);
    expect(unknownGroup).toBeInstanceOf(BrokerRefusedError);
    expect((unknownGroup as BrokerRefusedError).brokerCode).toBe('UNKNOWN_GROUP');
    expect((unknownGroup as Error).message).toContain('Group "nobody" has never consumed topic');

    const unknownTopic = await asker
      .validatePayload('billing', 'no.such.topic', json({}))
      .catch((error: unknown) => error);
    expect(unknownTopic).toBeInstanceOf(UnknownTopicError);

    const tooLarge = await asker
      .validatePayload('billing', CHARGES, Buffer.alloc(4 * 1024 * 1024 + 1, 0x20))
      .catch((error: unknown) => error);
    expect(tooLarge).toBeInstanceOf(MessageTooLargeError);

    const overFrame = await asker
      .validatePayload('billing', CHARGES, Buffer.alloc(8 * 1024 * 1024 + 1, 0x20))
      .catch((error: unknown) => error);
    expect(overFrame).toBeInstanceOf(BrokerRefusedError);
    expect((overFrame as BrokerRefusedError).brokerCode).toBe('FRAME_TOO_LARGE');
    // None of these refusals cost the asker its connection.
    expect(asker.isConnected).toBe(true);
  });
});
