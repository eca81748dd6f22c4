import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { emptyToUndefined } from './query-values';
import { stacked } from './stacked-decorators';

/*
 * The fields of a list's filter query. A filter form sends every field, so an empty one means "no filter" and is read
 * as absent before it is checked.
 */

/** A free-text filter of at most `maxLength` characters. */
export function TextFilter(maxLength: number, description?: string): PropertyDecorator {
  return stacked(
    ApiPropertyOptional(description === undefined ? undefined : { description }),
    Transform(emptyToUndefined),
    IsOptional(),
    IsString(),
    MaxLength(maxLength),
  );
}

/** A filter that takes one of `values`; without it the list shows `fallback`. */
export function ChoiceFilter<T extends string>(values: readonly T[], fallback: T): PropertyDecorator {
  return stacked(
    ApiPropertyOptional({ enum: values, default: fallback }),
    Transform(emptyToUndefined),
    IsOptional(),
    IsIn(values),
  );
}
