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
  Matches,
  Max,
  MaxLength,
  Min,
} from 'class-validator';
import { emptyToUndefined, toInteger } from '../http/query-values';
import { SORT_DIRECTIONS, sortSpec, unknownSortMessage, type SortDirection } from '../http/sort';

export const MAX_TX_SELECTION = 500;

export const HALF_MESSAGE_SORT = sortSpec(
  ['txId', 'producerGroup', 'topic', 'key', 'sentAt', 'checks', 'nextCheckAt', 'reason'] as const,
  { column: 'sentAt', dir: 'asc' },
  ['checks'],
);
export type HalfMessageSortColumn = (typeof HALF_MESSAGE_SORT.columns)[number];

export class ListHalfMessagesQuery {
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

  @ApiPropertyOptional({ enum: HALF_MESSAGE_SORT.columns, default: 'sentAt' })
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsIn(HALF_MESSAGE_SORT.columns, { message: ({ value }) => unknownSortMessage(HALF_MESSAGE_SORT, 'sort', value) })
  sort?: HalfMessageSortColumn;

  @ApiPropertyOptional({ enum: SORT_DIRECTIONS, description: 'Default: asc, desc for checks.' })
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsIn(SORT_DIRECTIONS, { message: 'dir must be asc or desc' })
  dir?: SortDirection;
}

export class CommitHalfMessagesDto {
  @ApiProperty({
    type: [String],
    description: `Transaction ids of discarded half messages, at most ${MAX_TX_SELECTION}.`,
  })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_TX_SELECTION)
  @IsString({ each: true })
  @MaxLength(128, { each: true })
  txIds!: string[];

  @ApiPropertyOptional({ maxLength: 500 })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  reason?: string;
}

export class DiscardHalfMessagesDto {
  @ApiProperty({ type: [String] })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_TX_SELECTION)
  @IsString({ each: true })
  @MaxLength(128, { each: true })
  txIds!: string[];

  @ApiProperty({ description: 'Why they are never delivered; required.' })
  @IsString()
  @IsNotEmpty({ message: 'reason is required: say why these half messages are discarded' })
  @Matches(/\S/, { message: 'reason is required: say why these half messages are discarded' })
  @MaxLength(500)
  reason!: string;
}
