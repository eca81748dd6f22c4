import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Max, MaxLength, Min } from 'class-validator';
import { emptyToUndefined, toEpochMs, toInteger } from '../http/query-values';
import { SORT_DIRECTIONS, sortSpec, unknownSortMessage, type SortDirection } from '../http/sort';

export const AUDIT_SORT = sortSpec(
  ['at', 'actor', 'action', 'target', 'count', 'reason', 'outcome'] as const,
  { column: 'at', dir: 'desc' },
  ['at', 'count'],
);
export type AuditSortColumn = (typeof AUDIT_SORT.columns)[number];

export class AuditQueryDto {
  @ApiPropertyOptional({ description: 'Username, or token:<name>.' })
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MaxLength(128)
  actor?: string;

  @ApiPropertyOptional({ description: 'An action, or a prefix ending in "." such as "dead-letters.".' })
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MaxLength(128)
  action?: string;

  @ApiPropertyOptional({ description: 'Text contained in the target, e.g. "dead-letter 12".' })
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MaxLength(255)
  target?: string;

  @ApiPropertyOptional({ type: String, description: 'Epoch ms or ISO 8601.' })
  @Transform(toEpochMs)
  @IsOptional()
  @IsInt({ message: 'from must be epoch milliseconds or an ISO 8601 date-time' })
  @Min(0)
  from?: number;

  @ApiPropertyOptional({ type: String, description: 'Epoch ms or ISO 8601.' })
  @Transform(toEpochMs)
  @IsOptional()
  @IsInt({ message: 'to must be epoch milliseconds or an ISO 8601 date-time' })
  @Min(0)
  to?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 500, default: 100 })
  @Transform(toInteger)
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;

  @ApiPropertyOptional({ minimum: 0, default: 0 })
  @Transform(toInteger)
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(10_000_000)
  offset?: number;

  @ApiPropertyOptional({ enum: AUDIT_SORT.columns, default: 'at' })
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsIn(AUDIT_SORT.columns, { message: ({ value }) => unknownSortMessage(AUDIT_SORT, 'sort', value) })
  sort?: AuditSortColumn;

  @ApiPropertyOptional({ enum: SORT_DIRECTIONS, description: 'Default: desc for at and count, asc otherwise.' })
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsIn(SORT_DIRECTIONS, { message: 'dir must be asc or desc' })
  dir?: SortDirection;
}
