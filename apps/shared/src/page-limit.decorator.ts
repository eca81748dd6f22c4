import { applyDecorators } from '@nestjs/common';
import { Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';

/** An optional `limit` query parameter: a whole number from 1 to 500. */
export function IsPageLimit(): PropertyDecorator {
  // Listed bottom-up, the order in which stacked decorators on the property would be applied.
  return applyDecorators(
    Max(500),
    Min(1),
    IsInt(),
    Type(() => Number),
    IsOptional(),
  );
}
