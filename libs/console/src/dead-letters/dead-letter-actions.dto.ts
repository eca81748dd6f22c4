import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { Allow, IsBoolean, IsInt, IsObject, IsOptional, Max, Min, ValidateNested } from 'class-validator';
import { OptionalReason, RequiredReason, SelectionOf } from '../http/action-fields';
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

  @OptionalReason('Why, for the audit log.')
  reason?: string;
}

export class BulkRetryDto {
  @ApiPropertyOptional({ type: [Number], description: `Dead-letter ids (at most ${MAX_SELECTION}); or give filter.` })
  @IsOptional()
  @SelectionOf(MAX_SELECTION, IsInt({ each: true }), Min(1, { each: true }))
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

  @OptionalReason()
  reason?: string;
}

export class DiscardDeadLettersDto {
  @ApiProperty({ type: [Number], description: `Dead-letter ids, at most ${MAX_SELECTION}.` })
  @SelectionOf(MAX_SELECTION, IsInt({ each: true }), Min(1, { each: true }))
  ids!: number[];

  @ApiProperty({ description: 'Why they are discarded; required, kept in the audit log and on the letters.' })
  @RequiredReason('reason is required: say why these messages are discarded')
  reason!: string;
}

export class DiscardDeadLetterDto {
  @ApiProperty({ description: 'Why it is discarded; required.' })
  @RequiredReason('reason is required: say why this message is discarded')
  reason!: string;
}

export class RevealPayloadDto {
  @ApiProperty({ description: 'Why the real values are needed; required, kept in the audit log.' })
  @RequiredReason('reason is required: say why the masked fields must be seen')
  reason!: string;
}
