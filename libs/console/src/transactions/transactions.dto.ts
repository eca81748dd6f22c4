import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { OptionalReason, RequiredReason, SelectionOf } from '../http/action-fields';
import { DEFAULT_PAGE_LIMITS, PagedSortedQuery } from '../http/paged-sorted.query';
import { emptyToUndefined } from '../http/query-values';
import { sortSpec } from '../http/sort';

export const MAX_TX_SELECTION = 500;

export const HALF_MESSAGE_SORT = sortSpec(
  ['txId', 'producerGroup', 'topic', 'key', 'sentAt', 'checks', 'nextCheckAt', 'reason'] as const,
  { column: 'sentAt', dir: 'asc' },
  ['checks'],
);
export type HalfMessageSortColumn = (typeof HALF_MESSAGE_SORT.columns)[number];

class HalfMessageFilters {
  @ApiPropertyOptional({ enum: ['unresolved', 'discarded'], default: 'discarded' })
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsIn(['unresolved', 'discarded'])
  state?: 'unresolved' | 'discarded';

  @ApiPropertyOptional()
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MaxLength(255)
  producerGroup?: string;

  @ApiPropertyOptional()
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MaxLength(255)
  topic?: string;

  @ApiPropertyOptional({ description: 'Transaction id or message id.' })
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MaxLength(128)
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
