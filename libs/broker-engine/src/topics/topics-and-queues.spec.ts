import { afterEach, describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  InvalidNameError,
  UnknownTopicError,
  validateName,
  type BrokerEngine,
} from '@reliable-mq/engine';
import { EngineKit } from '../../test/engine-test-kit';

const noop = async (): Promise<void> => undefined;

describe('topics and queues', () => {
  let kit: EngineKit;
  let engine: BrokerEngine;

  afterEach(async () => {
    await kit.dispose();
  });

  it('gives a topic 4 queues by default, or the configured default, or an explicit count', () => {
    kit = new EngineKit();
    engine = kit.open();
    expect(engine.createTopic('orders').queueCount).toBe(4);
    expect(engine.createTopic('wide', { queueCount: 16 }).queueCount).toBe(16);
    // Creating again returns the existing topic unchanged.
    expect(engine.createTopic('orders', { queueCount: 9 }).queueCount).toBe(4);
    expect(
      engine
        .stats()
        .topics.find((t) => t.topic === 'orders')!
        .queues.map((q) => q.queueId),
    ).toEqual([0, 1, 2, 3]);

    const other = kit.open({ defaultQueueCount: 2 });
    expect(other.createTopic('orders').queueCount).toBe(2);
  });

  it('rejects a bad queue count', () => {
    kit = new EngineKit();
    engine = kit.open();
    expect(() => engine.createTopic('t', { queueCount: 0 })).toThrow(InvalidArgumentError);
    expect(() => engine.createTopic('t', { queueCount: 1025 })).toThrow(/1 to 1024/);
    expect(() => engine.createTopic('t', { queueCount: 1.5 })).toThrow(InvalidArgumentError);
    expect(engine.getTopic('t')).toBeUndefined();
  });

  describe('names', () => {
    const cases: Array<[string, unknown, RegExp]> = [
      ['empty', '', /length must be 1–127 characters, got 0/],
      ['128 characters', 'a'.repeat(128), /length must be 1–127 characters, got 128/],
      ['a space', 'order created', /only letters, digits, "\.", "_", "-" and "%" are allowed/],
      ['a slash', 'orders/eu', /only letters, digits/],
      ['a number', 42, /expected a string, got number/],
      ['null', null, /expected a string, got null/],
      ['undefined', undefined, /expected a string, got undefined/],
    ];

    for (const [problem, value, message] of cases) {
      it(`refuses a topic or group name that is ${problem}, naming the problem`, async () => {
        kit = new EngineKit();
        engine = kit.open({ autoCreateTopics: true });
        expect(() => validateName('topic', value)).toThrow(InvalidNameError);
        expect(() => engine.createTopic(value as string)).toThrow(InvalidNameError);
        expect(() => engine.createTopic(value as string)).toThrow(message);
        await expect(engine.subscribe({ group: 'g', topic: value as string, handler: noop })).rejects.toThrow(message);
        await expect(engine.subscribe({ group: 'g', topic: value as string, handler: noop })).rejects.toBeInstanceOf(
          InvalidNameError,
        );
        engine.createTopic('ok');
        await expect(engine.subscribe({ group: value as string, topic: 'ok', handler: noop })).rejects.toBeInstanceOf(
          InvalidNameError,
        );
        await expect(engine.subscribe({ group: value as string, topic: 'ok', handler: noop })).rejects.toThrow(
          /Invalid group name/,
        );
        // Publish validates the whole batch first and reports which message is wrong.
        const publishing = engine.publish([{ topic: value as string, body: 'x' }]);
        await expect(publishing).rejects.toBeInstanceOf(InvalidArgumentError);
        await expect(engine.publish([{ topic: value as string, body: 'x' }])).rejects.toThrow(message);
        expect(engine.listTopics().map((t) => t.name)).toEqual(['ok']);
      });
    }

    it('accepts letters, digits, ".", "_", "-" and "%" up to 127 characters', () => {
      kit = new EngineKit();
      engine = kit.open();
      for (const name of ['a', 'Orders.v2_eu-west', 'pct%inside', '0123456789', 'x'.repeat(127)]) {
        expect(engine.createTopic(name).name).toBe(name);
      }
      expect(validateName('group', 'billing-service.v1')).toBe('billing-service.v1');
      const error = (() => {
        try {
          validateName('group', 'has space');
        } catch (caught) {
          return caught as InvalidNameError;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(InvalidNameError);
      expect(error!.kind).toBe('group');
      expect(error!.value).toBe('has space');
      expect(error!.name).toBe('InvalidNameError');
      expect(error!.code).toBe('INVALID_NAME');
    });
  });

  it('does not create topics on publish or subscribe by default', async () => {
    kit = new EngineKit();
    engine = kit.open();
    const publishing = engine.publish([{ topic: 'missing', body: 'x' }]);
    await expect(publishing).rejects.toBeInstanceOf(UnknownTopicError);
    await expect(engine.publish([{ topic: 'missing', body: 'x' }])).rejects.toThrow(/autoCreateTopics/);
    await expect(engine.subscribe({ group: 'g', topic: 'missing', handler: noop })).rejects.toBeInstanceOf(
      UnknownTopicError,
    );
    expect(engine.getTopic('missing')).toBeUndefined();
    expect(engine.listTopics()).toEqual([]);

    // One unknown topic in a batch rejects the whole batch.
    engine.createTopic('known');
    await expect(
      engine.publish([
        { topic: 'known', body: 'a' },
        { topic: 'missing', body: 'b' },
      ]),
    ).rejects.toBeInstanceOf(UnknownTopicError);
    expect(
      engine
        .stats()
        .topics.find((t) => t.topic === 'known')!
        .queues.every((q) => q.maxOffset === 0),
    ).toBe(true);
  });

  it('creates topics on first publish or subscribe when autoCreateTopics is set', async () => {
    kit = new EngineKit();
    engine = kit.open({ autoCreateTopics: true });
    const [result] = await engine.publish([{ topic: 'created.by.publish', body: 'x' }]);
    expect(result!.topic).toBe('created.by.publish');
    expect(engine.getTopic('created.by.publish')?.queueCount).toBe(4);
    const sub = await engine.subscribe({ group: 'g', topic: 'created.by.subscribe', handler: noop });
    expect(sub.topic).toBe('created.by.subscribe');
    expect(engine.getTopic('created.by.subscribe')?.queueCount).toBe(4);
  });

  it('reserves "%..." topics for the engine', async () => {
    kit = new EngineKit();
    engine = kit.open({ autoCreateTopics: true });
    expect(() => engine.createTopic('%RETRY%billing')).toThrow(InvalidArgumentError);
    expect(() => engine.createTopic('%custom')).toThrow(/reserved/);
    await expect(engine.publish([{ topic: '%DLQ%billing', body: 'x' }])).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(engine.publish([{ topic: '%anything', body: 'x' }])).rejects.toThrow(/reserved/);
    expect(engine.listTopics().filter((t) => t.name.startsWith('%'))).toEqual([]);
  });
});
