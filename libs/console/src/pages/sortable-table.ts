import {
  MAIN_SORT_PARAMS,
  firstDirection,
  isDefaultSort,
  parseSort,
  sortRows,
  type SortOrder,
  type SortParams,
  type SortSpec,
} from '../http/sort';
import { href, html, type SafeHtml } from './html';

/** One sortable table of a page: its columns, its current order, and the URL its header links keep. */
export interface SortableTable<C extends string = string> {
  /** Used in `data-testid`s: `sort-<id>-<column>`. */
  id: string;
  spec: SortSpec<C>;
  order: SortOrder<C>;
  params: SortParams;
  base: string;
  path: string;
  /** The page's query as given: filters, limit, and the other tables' sorts. */
  query: Record<string, string>;
}

export function sortableTable<C extends string>(input: {
  id: string;
  spec: SortSpec<C>;
  base: string;
  path: string;
  query: Record<string, unknown>;
  params?: SortParams;
}): SortableTable<C> {
  const params = input.params ?? MAIN_SORT_PARAMS;
  const query: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.query)) if (typeof value === 'string') query[name] = value;
  return {
    id: input.id,
    spec: input.spec,
    order: parseSort(input.spec, input.query, params),
    params,
    base: input.base,
    path: input.path,
    query,
  };
}

/**
 * A column header that sorts: a real link (Tab reaches it, Enter follows it) to the same page sorted by this
 * column, keeping the filters and starting again at the first page. The sorted column's `<th>` carries `aria-sort`.
 */
export function sortHeader<C extends string>(table: SortableTable<C>, column: C, label: string): SafeHtml {
  const current = table.order.column === column;
  const dir = current ? (table.order.dir === 'asc' ? 'desc' : 'asc') : firstDirection(table.spec, column);
  const query: Record<string, unknown> = { ...table.query, [table.params.sort]: column, [table.params.dir]: dir };
  if (table.params === MAIN_SORT_PARAMS || table.params.sort === 'sort') delete query.offset;
  const ariaSort = current ? (table.order.dir === 'asc' ? 'ascending' : 'descending') : null;
  const arrow = current ? (table.order.dir === 'asc' ? '▲' : '▼') : '↕';
  return html`<th scope="col" ${ariaSort ? html`aria-sort="${ariaSort}"` : ''}>
    <a
      class="sort"
      href="${href(table.base, table.path, query)}"
      data-testid="sort-${table.id}-${column}"
      title="Sort by ${label.toLowerCase()}, ${dir === 'asc' ? 'ascending' : 'descending'}"
      ><span class="label">${label}</span><span class="arrow" aria-hidden="true">${arrow}</span></a
    >
  </th>`;
}

/** Hidden fields that keep a table's sort when its filter form is sent; a filter starts again at page one. */
export function sortFields(table: SortableTable): SafeHtml {
  if (isDefaultSort(table.spec, table.order) && !table.query[table.params.sort]) return html``;
  return html`<input type="hidden" name="${table.params.sort}" value="${table.order.column}" />
    <input type="hidden" name="${table.params.dir}" value="${table.order.dir}" />`;
}

/** Sorts rows the page already holds in full (overview and admin tables). */
export function sortedRows<T, C extends string>(
  table: SortableTable<C>,
  rows: readonly T[],
  valueOf: (row: T, column: C) => string | number | null | undefined,
): T[] {
  return sortRows(rows, table.order, valueOf);
}

/** A table that scrolls sideways inside its own box on narrow screens; the box is focusable for arrow keys. */
export function scrollBox(label: string, table: SafeHtml, testId?: string): SafeHtml {
  return html`<div
    class="table-scroll"
    role="region"
    aria-label="${label}"
    tabindex="0"
    ${testId ? html`data-testid="${testId}"` : ''}
  >
    ${table}
  </div>`;
}
