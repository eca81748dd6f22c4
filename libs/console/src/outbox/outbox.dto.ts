import { ApiProperty } from '@nestjs/swagger';
import { IsUUID } from 'class-validator';
import { OUTBOX_ORDER_COLUMN_NAMES, type OutboxOrderColumn } from '@reliable-mq/nestjs';
import { OptionalReason, RequiredReason, SelectionOf } from '../http/action-fields';
import { ChoiceFilter, TextFilter } from '../http/filter-fields';
import { DEFAULT_PAGE_LIMITS, PagedSortedQuery } from '../http/paged-sorted.query';
import { sortSpec } from '../http/sort';

export const MAX_OUTBOX_SELECTION = 500;

/** The columns and their order are the framework's: the console sorts by what OutboxStore.listProblems orders by. */
export const OUTBOX_ROW_SORT = sortSpec(OUTBOX_ORDER_COLUMN_NAMES, { column: 'seq', dir: 'asc' }, ['attempts']);
export type OutboxRowSortColumn = OutboxOrderColumn;

class OutboxRowFilters {
  @ChoiceFilter(['stuck', 'dead'], 'stuck')
  state?: 'stuck' | 'dead';

  @TextFilter(255)
  topic?: string;

  @TextFilter(255)
  key?: string;
}

export class ListOutboxRowsQuery extends PagedSortedQuery(OUTBOX_ROW_SORT, DEFAULT_PAGE_LIMITS, OutboxRowFilters) {}

export class RequeueOutboxRowsDto {
  @ApiProperty({ type: [String], description: `Message ids of outbox rows, at most ${MAX_OUTBOX_SELECTION}.` })
  @SelectionOf(MAX_OUTBOX_SELECTION, IsUUID('all', { each: true }))
  ids!: string[];

  @OptionalReason()
  reason?: string;
}

export class DiscardOutboxRowsDto {
  @ApiProperty({ type: [String] })
  @SelectionOf(MAX_OUTBOX_SELECTION, IsUUID('all', { each: true }))
  ids!: string[];

  @ApiProperty({ description: 'Why these rows are never sent; required.' })
  @RequiredReason('reason is required: say why these rows are discarded')
  reason!: string;
}
