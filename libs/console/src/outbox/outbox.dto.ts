import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { emptyToUndefined, toInteger } from '../http/query-values';
import { SORT_DIRECTIONS, sortSpec, unknownSortMessage, type SortDirection } from '../http/sort';

export const MAX_OUTBOX_SELECTION = 500;

export const OUTBOX_ROW_SORT = sortSpec(
  ['seq', 'id', 'topic', 'key', 'attempts', 'createdAt', 'nextAttemptAt', 'error'] as const,
  { column: 'seq', dir: 'asc' },
  ['attempts'],
);
export type OutboxRowSortColumn = (typeof OUTBOX_ROW_SORT.columns)[number];

export class ListOutboxRowsQuery {
  @ApiPropertyOptional({ enum: ['stuck', 'dead'], default: 'stuck' })
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsIn(['stuck', 'dead'])
  state?: 'stuck' | 'dead';

  @ApiPropertyOptional()
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MaxLength(255)
  topic?: string;

  @ApiPropertyOptional()
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MaxLength(255)
  key?: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 200, default: 50 })
  @Transform(toInteger)
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(200)
  limit?: number;

  @ApiPropertyOptional({ minimum: 0, default: 0 })
  @Transform(toInteger)
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(10_000_000)
  offset?: number;

  @ApiPropertyOptional({ enum: OUTBOX_ROW_SORT.columns, default: 'seq' })
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsIn(OUTBOX_ROW_SORT.columns, { message: ({ value }) => unknownSortMessage(OUTBOX_ROW_SORT, 'sort', value) })
  sort?: OutboxRowSortColumn;

  @ApiPropertyOptional({ enum: SORT_DIRECTIONS, description: 'Default: asc, desc for attempts.' })
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsIn(SORT_DIRECTIONS, { message: 'dir must be asc or desc' })
  dir?: SortDirection;
}

export class RequeueOutboxRowsDto {
  @ApiProperty({ type: [String], description: `Message ids of outbox rows, at most ${MAX_OUTBOX_SELECTION}.` })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_OUTBOX_SELECTION)
  @IsUUID('all', { each: true })
  ids!: string[];

  @ApiPropertyOptional({ maxLength: 500 })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  reason?: string;
}

export class DiscardOutboxRowsDto {
  @ApiProperty({ type: [String] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_OUTBOX_SELECTION)
  @IsUUID('all', { each: true })
  ids!: string[];

  @ApiProperty({ description: 'Why these rows are never sent; required.' })
  @IsString()
  @IsNotEmpty({ message: 'reason is required: say why these rows are discarded' })
  @Matches(/\S/, { message: 'reason is required: say why these rows are discarded' })
  @MaxLength(500)
  reason!: string;
}
