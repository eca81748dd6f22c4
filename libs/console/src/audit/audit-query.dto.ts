import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, Min } from 'class-validator';
import { TextFilter } from '../http/filter-fields';
import { PagedSortedQuery } from '../http/paged-sorted.query';
import { toEpochMs } from '../http/query-values';
import { sortSpec } from '../http/sort';

export const AUDIT_SORT = sortSpec(
  ['at', 'actor', 'action', 'target', 'count', 'reason', 'outcome'] as const,
  { column: 'at', dir: 'desc' },
  ['at', 'count'],
);
export type AuditSortColumn = (typeof AUDIT_SORT.columns)[number];

class AuditFilters {
  @TextFilter(128, 'Username, or token:<name>.')
  actor?: string;

  @TextFilter(128, 'An action, or a prefix ending in "." such as "dead-letters.".')
  action?: string;

  @TextFilter(255, 'Text contained in the target, e.g. "dead-letter 12".')
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
