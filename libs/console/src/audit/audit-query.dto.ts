import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, MaxLength, Min } from 'class-validator';
import { PagedSortedQuery } from '../http/paged-sorted.query';
import { emptyToUndefined, toEpochMs } from '../http/query-values';
import { sortSpec } from '../http/sort';

export const AUDIT_SORT = sortSpec(
  ['at', 'actor', 'action', 'target', 'count', 'reason', 'outcome'] as const,
  { column: 'at', dir: 'desc' },
  ['at', 'count'],
);
export type AuditSortColumn = (typeof AUDIT_SORT.columns)[number];

class AuditFilters {
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
}

/** The audit log pages by 100 rows, up to 500. */
export class AuditQueryDto extends PagedSortedQuery(AUDIT_SORT, { defaultLimit: 100, maxLimit: 500 }, AuditFilters) {}
