import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, Matches, Min } from 'class-validator';
import { ChoiceFilter, TextFilter } from '../http/filter-fields';
import { DEFAULT_PAGE_LIMITS, PagedSortedQuery } from '../http/paged-sorted.query';
import { emptyToUndefined, toEpochMs } from '../http/query-values';
import { sortSpec } from '../http/sort';

/** 1-255 characters and no control characters (`\p{Cc}`), which no broker puts in a group or topic name. */
const NAME = /^\P{Cc}{1,255}$/u;

/** Which dead letters: every field narrows; all are optional. Used as a query and inside bulk bodies. */
export class DeadLetterFilterDto {
  @ApiPropertyOptional({ description: 'Consumer group that gave up on the message.' })
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @Matches(NAME, { message: 'group must be 1-255 printable characters' })
  group?: string;

  @ApiPropertyOptional({ description: 'Business topic the message was published to.' })
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @Matches(NAME, { message: 'topic must be 1-255 printable characters' })
  topic?: string;

  @TextFilter(512, 'Business key, exactly (e.g. an order id).')
  key?: string;

  @TextFilter(128, "The message id, or the original message's id.")
  messageId?: string;

  @TextFilter(500, 'Text contained in the recorded error.')
  error?: string;

  @ApiPropertyOptional({ description: 'Dead at or after: epoch ms or ISO 8601.', type: String })
  @Transform(toEpochMs)
  @IsOptional()
  @IsInt({ message: 'from must be epoch milliseconds or an ISO 8601 date-time' })
  @Min(0)
  from?: number;

  @ApiPropertyOptional({ description: 'Dead before: epoch ms or ISO 8601.', type: String })
  @Transform(toEpochMs)
  @IsOptional()
  @IsInt({ message: 'to must be epoch milliseconds or an ISO 8601 date-time' })
  @Min(0)
  to?: number;

  @ChoiceFilter(['dead', 'resent', 'discarded', 'any'], 'dead')
  status?: 'dead' | 'resent' | 'discarded' | 'any';
}

export const DEAD_LETTER_SORT = sortSpec(
  ['id', 'group', 'topic', 'key', 'error', 'attempts', 'deadAt', 'age', 'status'] as const,
  { column: 'deadAt', dir: 'desc' },
  ['id', 'attempts', 'deadAt', 'age'],
);
export type DeadLetterSortColumn = (typeof DEAD_LETTER_SORT.columns)[number];

export class ListDeadLettersQuery extends PagedSortedQuery(
  DEAD_LETTER_SORT,
  DEFAULT_PAGE_LIMITS,
  DeadLetterFilterDto,
) {}
