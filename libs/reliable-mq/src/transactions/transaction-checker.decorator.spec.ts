import { describe, expect, it } from 'vitest';
import { expectConfigurationError } from '../../test/configuration-error';
import { TransactionChecker } from './transaction-checker.decorator';
import type { TransactionCheckerOptions } from './transaction-checker-options.interface';

function decorate(options?: unknown, useDefault = false): void {
  class Checker {
    check(): string {
      return 'unknown';
    }
  }
  const descriptor = Object.getOwnPropertyDescriptor(Checker.prototype, 'check')!;
  const decorator = useDefault ? TransactionChecker() : TransactionChecker(options as TransactionCheckerOptions);
  decorator(Checker.prototype, 'check', descriptor);
}

describe('@TransactionChecker checks its arguments when applied', () => {
  it('accepts no options, a group, a topic, or both', () => {
    expect(() => decorate(undefined, true)).not.toThrow();
    expect(() => decorate({ producerGroup: 'order-service' })).not.toThrow();
    expect(() => decorate({ topic: 'payment.confirmed' })).not.toThrow();
    expect(() => decorate({ producerGroup: 'order-service', topic: 'payment.confirmed' })).not.toThrow();
  });

  it.each([
    [null, /options object/],
    ['payment.confirmed', /options object/],
    [['payment.confirmed'], /options object/],
    [{ group: 'order-service' }, /unknown option "group"; the options are producerGroup and topic/],
    [{ producerGroup: 'bad group' }, /producerGroup: Invalid group name/],
    [{ producerGroup: '' }, /producerGroup: Invalid group name/],
    [{ topic: 42 }, /topic: Invalid topic name/],
    [{ topic: '%RETRY%g' }, /reserved/],
  ])('rejects %j', (options, message) => {
    expectConfigurationError(() => decorate(options), message, 'Checker.check');
  });

  it('rejects a property that is not a method', () => {
    class Holder {}
    expect(() =>
      TransactionChecker({})(Holder.prototype, 'value', {
        value: 42,
        writable: true,
        configurable: true,
        enumerable: false,
      }),
    ).toThrow(/only decorate a method/);
  });
});
