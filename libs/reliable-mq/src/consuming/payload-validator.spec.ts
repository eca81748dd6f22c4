import 'reflect-metadata';
import { IsInt, IsString, Min } from 'class-validator';
import { describe, expect, it } from 'vitest';
import { NonRetryableError } from '../errors';
import type { MqConsumerOptions } from './mq-consumer-options.interface';
import { parseAndValidate, payloadValidatorFor, validationKindOf } from './payload-validator';

class ReserveDto {
  @IsString()
  sku!: string;

  @IsInt()
  @Min(1, { message: 'quantity must be at least 1' })
  quantity!: number;
}

const schema = {
  parse(input: unknown) {
    const value = input as { sku?: unknown } | null;
    if (typeof value?.sku !== 'string') throw new Error('sku must be a string');
    return value;
  },
};

const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');

describe('payloadValidatorFor: the check a handler applies before it runs, as an answer', () => {
  const payloads = [
    '{"sku":"a-1","quantity":2}',
    '{"sku":"a-1","quantity":0}',
    '{"sku":7}',
    '[1,2]',
    '"text"',
    '{"sku":',
  ];

  for (const [kind, options] of [
    ['DTO', { dto: ReserveDto }],
    ['schema', { schema }],
    ['nothing', {}],
  ] as const) {
    it(`answers exactly what the runner would decide, with a ${kind}`, async () => {
      const validator = payloadValidatorFor(options, 'Stock.reserve');
      expect(validator.handler).toBe('Stock.reserve');
      expect(validator.validation).toBe(validationKindOf(options));
      for (const text of payloads) {
        const runner = await parseAndValidate(bytes(text), options as MqConsumerOptions).then(
          () => null,
          (error: unknown) => error,
        );
        const answer = await validator.check(bytes(text));
        if (runner === null) {
          expect(answer, text).toEqual({ valid: true });
        } else {
          expect(runner).toBeInstanceOf(NonRetryableError);
          expect(answer, text).toEqual({ valid: false, errors: [(runner as Error).message] });
        }
      }
    });
  }

  it('names the DTO check and its messages, and the schema check', async () => {
    expect(validationKindOf({ dto: ReserveDto })).toBe('dto:ReserveDto');
    expect(validationKindOf({ schema })).toBe('schema');
    expect(validationKindOf({})).toBe('none');
    const dto = await payloadValidatorFor({ dto: ReserveDto }).check(bytes('{"sku":"a-1","quantity":0}'));
    expect(dto).toEqual({
      valid: false,
      errors: ['Payload failed validation against ReserveDto: quantity: quantity must be at least 1'],
    });
    expect(await payloadValidatorFor({ schema }).check(bytes('{"sku":7}'))).toEqual({
      valid: false,
      errors: ['Payload failed schema validation: sku must be a string'],
    });
  });
});
