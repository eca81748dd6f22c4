import { ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsNotEmpty,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
} from 'class-validator';
import { stacked } from './stacked-decorators';

/** The longest reason an action keeps in the audit log. */
export const MAX_REASON_LENGTH = 500;

/**
 * The ids an action applies to: a non-empty array of at most `max` entries, each passing `entryChecks` (given with
 * `{ each: true }`). A bulk action caps its selection so that one click cannot hold the store for long.
 */
export function SelectionOf(max: number, ...entryChecks: PropertyDecorator[]): PropertyDecorator {
  return stacked(IsArray(), ArrayMinSize(1), ArrayMaxSize(max), ...entryChecks);
}

/** A reason the operator may give, for the audit log. */
export function OptionalReason(description?: string): PropertyDecorator {
  return stacked(
    ApiPropertyOptional(
      description === undefined ? { maxLength: MAX_REASON_LENGTH } : { description, maxLength: MAX_REASON_LENGTH },
    ),
    IsOptional(),
    IsString(),
    MaxLength(MAX_REASON_LENGTH),
  );
}

/**
 * A reason the operator must give before an action that cannot be undone: blank or whitespace only is refused with
 * `refusal`, which tells what to write. The field's own documentation (`ApiProperty`) stays at the field.
 */
export function RequiredReason(refusal: string): PropertyDecorator {
  return stacked(
    IsString(),
    IsNotEmpty({ message: refusal }),
    Matches(/\S/, { message: refusal }),
    MaxLength(MAX_REASON_LENGTH),
  );
}
