import { BadRequestException } from '@nestjs/common';

export type SortDirection = 'asc' | 'desc';

export const SORT_DIRECTIONS: readonly SortDirection[] = ['asc', 'desc'];

/** The columns one table sorts by, and its order when the URL names none. */
export interface SortSpec<C extends string = string> {
  /** Names as they appear in `sort=`, in the order the table shows them. */
  columns: readonly C[];
  default: SortOrder<C>;
  /** The direction a first click on a column picks; `asc` unless listed (times and counts start descending). */
  descendingFirst?: readonly C[];
}

export interface SortOrder<C extends string = string> {
  column: C;
  dir: SortDirection;
}

/** Query parameter names of one table: `sort`/`dir` for a page's main table, prefixed ones for the others. */
export interface SortParams {
  sort: string;
  dir: string;
}

export const MAIN_SORT_PARAMS: SortParams = { sort: 'sort', dir: 'dir' };

export function sortParams(prefix: string): SortParams {
  return { sort: `${prefix}Sort`, dir: `${prefix}Dir` };
}

export function sortSpec<C extends string>(
  columns: readonly C[],
  defaultOrder: SortOrder<C>,
  descendingFirst: readonly C[] = [],
): SortSpec<C> {
  return { columns, default: defaultOrder, descendingFirst };
}

/** The message of a refused `sort`, naming the columns this table accepts. */
export function unknownSortMessage(spec: SortSpec, name: string, value: unknown): string {
  return `${name} must be one of: ${spec.columns.join(', ')}; got ${JSON.stringify(value)}.`;
}

/**
 * Reads a table's sort from a query. Absent or empty values give the default; anything not on the table's list
 * is a 400 naming what is allowed, so a mistyped link fails visibly instead of sorting by something else.
 */
export function parseSort<C extends string>(
  spec: SortSpec<C>,
  query: Record<string, unknown>,
  params: SortParams = MAIN_SORT_PARAMS,
): SortOrder<C> {
  const rawSort = query[params.sort];
  const rawDir = query[params.dir];
  let column = spec.default.column;
  if (rawSort !== undefined && rawSort !== '') {
    if (typeof rawSort !== 'string' || !(spec.columns as readonly string[]).includes(rawSort)) {
      throw new BadRequestException(unknownSortMessage(spec, params.sort, rawSort));
    }
    column = rawSort as C;
  }
  let dir: SortDirection;
  if (rawDir === undefined || rawDir === '') {
    dir = column === spec.default.column ? spec.default.dir : firstDirection(spec, column);
  } else if (rawDir === 'asc' || rawDir === 'desc') {
    dir = rawDir;
  } else {
    throw new BadRequestException(`${params.dir} must be asc or desc; got ${JSON.stringify(rawDir)}.`);
  }
  return { column, dir };
}

export function firstDirection<C extends string>(spec: SortSpec<C>, column: C): SortDirection {
  return spec.descendingFirst?.includes(column) ? 'desc' : 'asc';
}

export function isDefaultSort<C extends string>(spec: SortSpec<C>, order: SortOrder<C>): boolean {
  return order.column === spec.default.column && order.dir === spec.default.dir;
}

type SortValue = string | number | null | undefined;

/**
 * Sorts a copy of `items` by the value `valueOf` reads for the chosen column. Text compares case-insensitively,
 * missing values come last in either direction, and ties keep their original order (the sort is stable).
 */
export function sortRows<T, C extends string>(
  items: readonly T[],
  order: SortOrder<C>,
  valueOf: (item: T, column: C) => SortValue,
): T[] {
  const sign = order.dir === 'asc' ? 1 : -1;
  return items
    .map((item, index) => ({ item, index, value: valueOf(item, order.column) }))
    .sort((a, b) => {
      const missingA = a.value === null || a.value === undefined;
      const missingB = b.value === null || b.value === undefined;
      if (missingA || missingB) return missingA === missingB ? a.index - b.index : missingA ? 1 : -1;
      return sign * compareValues(a.value!, b.value!) || a.index - b.index;
    })
    .map((entry) => entry.item);
}

const collator = new Intl.Collator('en', { sensitivity: 'base', numeric: true });

function compareValues(a: string | number, b: string | number): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return collator.compare(String(a), String(b));
}
