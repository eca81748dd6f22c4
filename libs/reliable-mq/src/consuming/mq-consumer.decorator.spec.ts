import { describe, expect, it } from 'vitest';
import { expectConfigurationError } from '../../test/configuration-error';
import { MqConsumer } from './mq-consumer.decorator';
import type { MqConsumerOptions } from './mq-consumer-options.interface';

function decorate(options: unknown): void {
  class Handler {
    handle(): void {}
  }
  const descriptor = Object.getOwnPropertyDescriptor(Handler.prototype, 'handle')!;
  MqConsumer(options as MqConsumerOptions)(Handler.prototype, 'handle', descriptor);
}

describe('@MqConsumer checks its arguments when applied', () => {
  it('accepts a valid declaration', () => {
    expect(() =>
      decorate({ topic: 'order.created', group: 'payment-service', mode: 'orderly', prefetch: 4 }),
    ).not.toThrow();
  });

  it.each([
    [undefined, /options object/],
    [{ group: 'g' }, /"topic" is required/],
    [{ topic: 'order.created' }, /"group" is required/],
    [{ topic: 'bad topic', group: 'g' }, /Invalid topic name/],
    [{ topic: 't', group: 'x'.repeat(128) }, /1–127/],
    [{ topic: 't', group: 'g', mode: 'fifo' }, /mode must be/],
    [{ topic: 't', group: 'g', prefetch: 0 }, /prefetch must be/],
    [{ topic: 't', group: 'g', maxReconsumeTimes: -1 }, /maxReconsumeTimes must be/],
    [{ topic: 't', group: 'g', dedupKey: 'orderId' }, /dedupKey must be a function/],
    [{ topic: 't', group: 'g', schema: {} }, /schema must have a parse/],
    [{ topic: 't', group: 'g', dto: class A {}, schema: { parse: (x: unknown) => x } }, /either dto or schema/],
  ])('rejects %j', (options, message) => {
    expectConfigurationError(() => decorate(options), message, 'Handler.handle');
  });
});
