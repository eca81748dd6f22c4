import { loadOptionalDependency } from '@reliable-mq/engine';
import type * as ClassTransformer from 'class-transformer';
import type * as ClassValidator from 'class-validator';
import type { ValidationError } from 'class-validator';
import { NonRetryableError } from '../errors';
import type { PayloadCheck, PayloadValidator } from '../transport/transport.interface';
import type { MqConsumerOptions } from './mq-consumer-options.interface';

/** @internal */
interface DtoValidation {
  plainToInstance: typeof ClassTransformer.plainToInstance;
  validate: typeof ClassValidator.validate;
}

/**
 * @internal class-validator and class-transformer, loaded the first time a handler declares a `dto` (the consumer explorer
 * asks at startup, so a missing package fails the start, not a delivery). Applications without DTOs never load them.
 */
export function dtoValidation(): DtoValidation {
  const usedFor = 'Validating payloads with @MqConsumer({ dto })';
  const transformer = loadOptionalDependency<typeof ClassTransformer>('class-transformer', usedFor, () =>
    require('class-transformer'),
  );
  const validator = loadOptionalDependency<typeof ClassValidator>('class-validator', usedFor, () =>
    require('class-validator'),
  );
  return { plainToInstance: transformer.plainToInstance, validate: validator.validate };
}

function flatten(errors: ValidationError[], parent = ''): string[] {
  return errors.flatMap((error) => {
    const path = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((text) => `${path}: ${text}`);
    return [...own, ...flatten(error.children ?? [], path)];
  });
}

/**
 * Parses and checks a payload against the handler's DTO or schema. Invalid input can never
 * succeed on retry, so it is rejected as non-retryable and lands in the DLQ with the reason.
 */
export async function parseAndValidate(body: Buffer, options: MqConsumerOptions): Promise<unknown> {
  let payload: unknown;
  try {
    payload = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new NonRetryableError(`Payload is not valid JSON: ${(error as Error).message}`);
  }
  if (options.dto) {
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
      throw new NonRetryableError(`Payload failed validation against ${options.dto.name}: expected an object.`);
    }
    const { plainToInstance, validate } = dtoValidation();
    const instance = plainToInstance(options.dto as new () => object, payload);
    const errors = await validate(instance, { forbidUnknownValues: false });
    if (errors.length > 0) {
      throw new NonRetryableError(
        `Payload failed validation against ${options.dto.name}: ${flatten(errors).join('; ')}`,
      );
    }
    return instance;
  }
  if (options.schema) {
    try {
      return options.schema.parse(payload);
    } catch (error) {
      throw new NonRetryableError(`Payload failed schema validation: ${(error as Error).message}`);
    }
  }
  return payload;
}

/** What a handler's payloads are checked against: `dto:<Class>`, `schema`, or `none` (JSON only). */
export function validationKindOf(options: Pick<MqConsumerOptions, 'dto' | 'schema'>): string {
  if (options.dto) return `dto:${options.dto.name}`;
  if (options.schema) return 'schema';
  return 'none';
}

/**
 * The check a handler's payloads go through before it runs, as a validator an operator's tool can ask for: the same
 * `parseAndValidate` the runner applies, so an answer of `valid` means the runner would call the handler. It never
 * calls the handler.
 */
export function payloadValidatorFor(
  options: Pick<MqConsumerOptions, 'dto' | 'schema'>,
  handler?: string,
): PayloadValidator {
  return {
    handler,
    validation: validationKindOf(options),
    async check(body: Buffer): Promise<PayloadCheck> {
      try {
        await parseAndValidate(body, options as MqConsumerOptions);
        return { valid: true };
      } catch (error) {
        return { valid: false, errors: [(error as Error)?.message ?? String(error)] };
      }
    },
  };
}
