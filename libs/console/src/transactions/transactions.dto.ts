import { ApiProperty } from '@nestjs/swagger';
import { IsString, MaxLength } from 'class-validator';
import { OptionalReason, RequiredReason, SelectionOf } from '../http/action-fields';
import { ChoiceFilter, TextFilter } from '../http/filter-fields';
import { DEFAULT_PAGE_LIMITS, PagedSortedQuery } from '../http/paged-sorted.query';
import { sortSpec } from '../http/sort';

export const MAX_TX_SELECTION = 500;

export const HALF_MESSAGE_SORT = sortSpec(
  ['txId', 'producerGroup', 'topic', 'key', 'sentAt', 'checks', 'nextCheckAt', 'reason'] as const,
  { column: 'sentAt', dir: 'asc' },
  ['checks'],
);
export type HalfMessageSortColumn = (typeof HALF_MESSAGE_SORT.columns)[number];

class HalfMessageFilters {
  @ChoiceFilter(['unresolved', 'discarded'], 'discarded')
  state?: 'unresolved' | 'discarded';

  @TextFilter(255)
  producerGroup?: string;

  @TextFilter(255)
  topic?: string;

  @TextFilter(128, 'Transaction id or message id.')
  id?: string;
}

export class ListHalfMessagesQuery extends PagedSortedQuery(
  HALF_MESSAGE_SORT,
  DEFAULT_PAGE_LIMITS,
  HalfMessageFilters,
) {}

export class CommitHalfMessagesDto {
  @ApiProperty({
    type: [String],
    description: `Transaction ids of discarded half messages, at most ${MAX_TX_SELECTION}.`,
  })
  @SelectionOf(MAX_TX_SELECTION, IsString({ each: true }), MaxLength(128, { each: true }))
  txIds!: string[];

  @OptionalReason()
  reason?: string;
}

export class DiscardHalfMessagesDto {
  @ApiProperty({ type: [String] })
  @SelectionOf(MAX_TX_SELECTION, IsString({ each: true }), MaxLength(128, { each: true }))
  txIds!: string[];

  @ApiProperty({ description: 'Why they are never delivered; required.' })
  @RequiredReason('reason is required: say why these half messages are discarded')
  reason!: string;
}
