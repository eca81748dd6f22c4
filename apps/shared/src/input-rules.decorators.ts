import { applyDecorators } from '@nestjs/common';
import { IsNumber, IsString, Matches, MaxLength, ValidateBy } from 'class-validator';

/**
 * Text that names something (a customer, a reason): at least one visible character, no control characters and nothing
 * that breaks or reorders a line. Such values end up in pages, logs and messages of other services.
 */
// eslint-disable-next-line no-control-regex
const PRINTABLE = /^[^\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]*$/;

export function IsPrintableText(maxLength: number): PropertyDecorator {
  return applyDecorators(
    IsString(),
    MaxLength(maxLength),
    Matches(/\S/, { message: ({ property }) => `${property} must not be blank` }),
    Matches(PRINTABLE, {
      message: ({ property }) => `${property} must not contain control characters or line breaks`,
    }),
  );
}

/**
 * An amount of money: a finite number with at most two decimals. class-validator's `maxDecimalPlaces` reads the
 * decimals from `String(value)`, which fails on numbers written with an exponent (1e-7); this compares the number with
 * itself rounded to cents instead.
 */
export function IsMoneyAmount(): PropertyDecorator {
  return applyDecorators(
    IsNumber({ allowNaN: false, allowInfinity: false }),
    ValidateBy({
      name: 'isMoneyAmount',
      validator: {
        validate: (value: unknown) => typeof value === 'number' && Number(value.toFixed(2)) === value,
        defaultMessage: (args) => `${args?.property ?? 'the amount'} must have at most two decimals`,
      },
    }),
  );
}
