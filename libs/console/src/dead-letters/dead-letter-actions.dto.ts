import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  Allow,
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsInt,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import { DeadLetterFilterDto } from './dead-letter-filter.dto';

export const MAX_SELECTION = 1000;

export class RetryDeadLetterDto {
  @ApiPropertyOptional({
    description:
      'The whole new payload (any JSON). When the handler declared a DTO or schema, it is validated against it first ' +
      '(by a live consumer through the broker when this console knows no handler); leave it out to retry the ' +
      'message as it was.',
  })
  @Allow()
  payload?: unknown;

  @ApiPropertyOptional({
    description: 'Replacement headers (string values); the x-rmq-* headers are set by the broker.',
  })
  @IsOptional()
  @IsObject()
  headers?: Record<string, string>;

  @ApiPropertyOptional({
    description:
      "Required as true when the message is older than its group's dedup window: the handler will run again.",
  })
  @IsOptional()
  @IsBoolean()
  confirmDedupWindow?: boolean;

  @ApiPropertyOptional({
    description:
      'Required as true to send an edit that no live consumer could check (409 EDIT_UNCHECKED_CONFIRMATION_REQUIRED ' +
      'without it); the audit entry records that it was sent unchecked.',
  })
  @IsOptional()
  @IsBoolean()
  confirmUnchecked?: boolean;

  @ApiPropertyOptional({ description: 'Why, for the audit log.', maxLength: 500 })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  reason?: string;
}

export class BulkRetryDto {
  @ApiPropertyOptional({ type: [Number], description: `Dead-letter ids (at most ${MAX_SELECTION}); or give filter.` })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_SELECTION)
  @IsInt({ each: true })
  @Min(1, { each: true })
  ids?: number[];

  @ApiPropertyOptional({ type: DeadLetterFilterDto, description: 'Retry every dead letter matching this filter now.' })
  @IsOptional()
  @ValidateNested()
  @Type(() => DeadLetterFilterDto)
  filter?: DeadLetterFilterDto;

  @ApiPropertyOptional({ description: 'Messages per second; default from the settings.', minimum: 1 })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(100_000)
  ratePerSec?: number;

  @ApiPropertyOptional()
  @IsOptional()
  @IsBoolean()
  confirmDedupWindow?: boolean;

  @ApiPropertyOptional({ maxLength: 500 })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  reason?: string;
}

export class DiscardDeadLettersDto {
  @ApiProperty({ type: [Number], description: `Dead-letter ids, at most ${MAX_SELECTION}.` })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(MAX_SELECTION)
  @IsInt({ each: true })
  @Min(1, { each: true })
  ids!: number[];

  @ApiProperty({ description: 'Why they are discarded; required, kept in the audit log and on the letters.' })
  @IsString()
  @IsNotEmpty({ message: 'reason is required: say why these messages are discarded' })
  @Matches(/\S/, { message: 'reason is required: say why these messages are discarded' })
  @MaxLength(500)
  reason!: string;
}

export class DiscardDeadLetterDto {
  @ApiProperty({ description: 'Why it is discarded; required.' })
  @IsString()
  @IsNotEmpty({ message: 'reason is required: say why this message is discarded' })
  @Matches(/\S/, { message: 'reason is required: say why this message is discarded' })
  @MaxLength(500)
  reason!: string;
}

export class RevealPayloadDto {
  @ApiProperty({ description: 'Why the real values are needed; required, kept in the audit log.' })
  @IsString()
  @IsNotEmpty({ message: 'reason is required: say why the masked fields must be seen' })
  @Matches(/\S/, { message: 'reason is required: say why the masked fields must be seen' })
  @MaxLength(500)
  reason!: string;
}
