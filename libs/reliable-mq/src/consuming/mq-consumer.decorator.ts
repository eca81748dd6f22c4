import { SetMetadata } from '@nestjs/common';
import { SUBSCRIPTION_LIMITS, validateName, withinLimit } from '@reliable-mq/engine';
import { MQ_CONSUMER_METADATA } from '../constants';
import { ConfigurationError } from '../errors';
import type { MqConsumerOptions } from './mq-consumer-options.interface';

function check(condition: boolean, where: string, problem: string): void {
  if (!condition) throw new ConfigurationError(`@MqConsumer on ${where}: ${problem}`);
}

/**
 * Marks a provider method as the handler of a (group, topic). The handler is called as
 * `(payload, ctx)`; the message is acked when its promise resolves, retried when it
 * throws, and dead-lettered at once on `NonRetryableError`.
 */
export function MqConsumer<TPayload = unknown>(options: MqConsumerOptions<TPayload>): MethodDecorator {
  return (target, propertyKey, descriptor) => {
    const where = `${(target as { constructor: { name: string } }).constructor.name}.${String(propertyKey)}`;
    check(
      typeof options === 'object' && options !== null,
      where,
      'pass an options object with at least { topic, group }.',
    );
    for (const field of ['topic', 'group'] as const) {
      check(options[field] !== undefined, where, `"${field}" is required.`);
      try {
        validateName(field, options[field]);
      } catch (error) {
        throw new ConfigurationError(`@MqConsumer on ${where}: ${(error as Error).message}`);
      }
    }
    check(typeof descriptor.value === 'function', where, 'it can only decorate a method.');
    check(
      options.mode === undefined || options.mode === 'concurrent' || options.mode === 'orderly',
      where,
      `mode must be "concurrent" or "orderly", got ${JSON.stringify(options.mode)}.`,
    );
    check(
      options.groupMode === undefined || options.groupMode === 'clustering' || options.groupMode === 'broadcasting',
      where,
      `groupMode must be "clustering" or "broadcasting", got ${JSON.stringify(options.groupMode)}.`,
    );
    check(
      options.dedupKey === undefined || typeof options.dedupKey === 'function',
      where,
      'dedupKey must be a function (payload, ctx) => string.',
    );
    for (const name of ['prefetch', 'maxReconsumeTimes'] as const) {
      const { min, max } = SUBSCRIPTION_LIMITS[name];
      check(
        options[name] === undefined || withinLimit(options[name], SUBSCRIPTION_LIMITS[name]),
        where,
        `${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(options[name])}.`,
      );
    }
    check(!(options.dto && options.schema), where, 'give either dto or schema, not both.');
    check(options.dto === undefined || typeof options.dto === 'function', where, 'dto must be a class.');
    check(
      options.schema === undefined || typeof options.schema?.parse === 'function',
      where,
      'schema must have a parse(input) method.',
    );
    SetMetadata(MQ_CONSUMER_METADATA, options)(target, propertyKey, descriptor);
  };
}
