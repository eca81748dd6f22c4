import { SetMetadata } from '@nestjs/common';
import { validateName } from '@reliable-mq/engine';
import { TRANSACTION_CHECKER_METADATA } from '../constants';
import { ConfigurationError } from '../errors';
import type { TransactionCheckerOptions } from './transaction-checker-options.interface';

const KNOWN_OPTIONS = new Set(['producerGroup', 'topic']);

function check(condition: boolean, where: string, problem: string): void {
  if (!condition) throw new ConfigurationError(`@TransactionChecker on ${where}: ${problem}`);
}

/**
 * Marks a provider method that answers the broker's checkback about an unresolved transactional message, from local
 * state ("does a payment row exist for this order?"). It is called as `(payload, ctx)` and returns or resolves
 * `'commit'`, `'rollback'` or `'unknown'`; throwing counts as `'unknown'`. One checker per (producer group, topic);
 * one without a topic answers for every other topic of its group.
 */
export function TransactionChecker(options: TransactionCheckerOptions = {}): MethodDecorator {
  return (target, propertyKey, descriptor) => {
    const where = `${(target as { constructor: { name: string } }).constructor.name}.${String(propertyKey)}`;
    check(
      typeof options === 'object' && options !== null && !Array.isArray(options),
      where,
      'pass nothing, or an options object such as { topic: "payment.confirmed" }.',
    );
    const unknown = Object.keys(options).filter((name) => !KNOWN_OPTIONS.has(name));
    check(
      unknown.length === 0,
      where,
      `unknown option ${unknown.map((name) => `"${name}"`).join(', ')}; the options are producerGroup and topic.`,
    );
    for (const [field, kind] of [
      ['producerGroup', 'group'],
      ['topic', 'topic'],
    ] as const) {
      if (options[field] === undefined) continue;
      try {
        validateName(kind, options[field]);
      } catch (error) {
        throw new ConfigurationError(`@TransactionChecker on ${where}: ${field}: ${(error as Error).message}`);
      }
    }
    check(
      options.topic === undefined || !options.topic.startsWith('%'),
      where,
      `topic ${JSON.stringify(options.topic)} is reserved: names starting with "%" are the broker's retry and DLQ topics.`,
    );
    check(typeof descriptor.value === 'function', where, 'it can only decorate a method.');
    SetMetadata(TRANSACTION_CHECKER_METADATA, { ...options })(target, propertyKey, descriptor);
  };
}
