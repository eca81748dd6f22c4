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

export const MAX_TX_SELECTION = 500;

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
