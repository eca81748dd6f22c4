import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsInt, IsOptional, Max, Min } from 'class-validator';
import { emptyToUndefined, toInteger } from './query-values';
import { SORT_DIRECTIONS, unknownSortMessage, type SortDirection, type SortSpec } from './sort';

/** Deepest offset a list accepts: far past any page a person reads, short of a scan that would hold the database. */
export const MAX_LIST_OFFSET = 10_000_000;

export interface PageLimits {
  /** Rows a page shows when the query names no `limit`. */
  defaultLimit: number;
  maxLimit: number;
}

export const DEFAULT_PAGE_LIMITS: PageLimits = { defaultLimit: 50, maxLimit: 200 };

/** The query fields every sortable, paged list of the console takes, besides its own filters. */
export interface PagedSorted<C extends string> {
  limit?: number;
  offset?: number;
  sort?: C;
  dir?: SortDirection;
}

// TypeScript accepts a class that extends a type parameter only when the parameter's constructor takes `...any[]`.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type QueryClass<T = object> = new (...args: any[]) => T;

class NoFilters {}

/**
 * A query DTO class with `limit`, `offset`, `sort` and `dir`, checked the same way for every list (a 400 that names
 * the accepted columns for an unknown `sort`), on top of `Filters`, the list's own filter DTO. A list declares
 * `class ListThingsQuery extends PagedSortedQuery(THING_SORT, DEFAULT_PAGE_LIMITS, ThingFilterDto) {}`.
 */
export function PagedSortedQuery<C extends string, F extends QueryClass = typeof NoFilters>(
  spec: SortSpec<C>,
  limits: PageLimits = DEFAULT_PAGE_LIMITS,
  Filters: F = NoFilters as F,
): QueryClass<InstanceType<F> & PagedSorted<C>> & F {
  const descending = spec.descendingFirst ?? [];
  const firstDirections =
    descending.length === 0 ? 'asc' : `desc for ${descending.join(', ')}, asc for the other columns`;

  class PagedSortedQueryFields extends Filters {
    @ApiPropertyOptional({ minimum: 1, maximum: limits.maxLimit, default: limits.defaultLimit })
    @Transform(toInteger)
    @IsOptional()
    @IsInt()
    @Min(1)
    @Max(limits.maxLimit)
    limit?: number;

    @ApiPropertyOptional({ minimum: 0, default: 0 })
    @Transform(toInteger)
    @IsOptional()
    @IsInt()
    @Min(0)
    @Max(MAX_LIST_OFFSET)
    offset?: number;

    @ApiPropertyOptional({ enum: spec.columns, default: spec.default.column })
    @Transform(emptyToUndefined)
    @IsOptional()
    @IsIn(spec.columns, { message: ({ value }) => unknownSortMessage(spec, 'sort', value) })
    sort?: C;

    @ApiPropertyOptional({
      enum: SORT_DIRECTIONS,
      description: `Default: ${spec.default.dir} for ${spec.default.column}; for another column, ${firstDirections}.`,
    })
    @Transform(emptyToUndefined)
    @IsOptional()
    @IsIn(SORT_DIRECTIONS, { message: 'dir must be asc or desc' })
    dir?: SortDirection;
  }
  return PagedSortedQueryFields as QueryClass<InstanceType<F> & PagedSorted<C>> & F;
}
