import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsInt, IsNotEmpty, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { sortSpec } from '../http/sort';
import { toEpochMs } from '../http/query-values';

const NAME = /^[A-Za-z0-9._%-]+$/;
const NAME_MESSAGE = 'must be 1–127 letters, digits, ".", "_", "-" or "%"';
/** The engine's ceiling on a topic's queues. */
export const MAX_QUEUES = 1024;

export const BACKLOG_SORT = sortSpec(
  ['lag', 'lagMs', 'group', 'topic', 'consume', 'publish', 'members', 'queues', 'drain'] as const,
  { column: 'lag', dir: 'desc' },
  ['lag', 'lagMs', 'consume', 'publish', 'members', 'queues', 'drain'],
);
export type BacklogSortColumn = (typeof BACKLOG_SORT.columns)[number];

class ReasonDto {
  @ApiProperty({ description: 'Why, for the audit log. Required.', maxLength: 500 })
  @IsString()
  @IsNotEmpty({ message: 'reason is required: say why, for the audit log' })
  @MaxLength(500)
  @Matches(/\S/, { message: 'reason is required: say why, for the audit log' })
  reason!: string;
}

export class ExpandQueuesDto extends ReasonDto {
  @ApiProperty({ description: 'The topic whose queues to add.' })
  @IsString()
  @MaxLength(127)
  @Matches(NAME, { message: `topic ${NAME_MESSAGE}` })
  topic!: string;

  @ApiProperty({ description: `The new queue count, larger than the current one, at most ${MAX_QUEUES}.` })
  @IsInt()
  @Min(2)
  @Max(MAX_QUEUES)
  queueCount!: number;
}

export class RedistributeDto extends ReasonDto {
  @ApiProperty({ description: 'The clustering group whose backlog to move.' })
  @IsString()
  @MaxLength(127)
  @Matches(NAME, { message: `group ${NAME_MESSAGE}` })
  group!: string;

  @ApiProperty({ description: 'The topic the backlog is on.' })
  @IsString()
  @MaxLength(127)
  @Matches(NAME, { message: `fromTopic ${NAME_MESSAGE}` })
  fromTopic!: string;

  @ApiProperty({ description: 'The topic to move it to; the group must consume it too.' })
  @IsString()
  @MaxLength(127)
  @Matches(NAME, { message: `toTopic ${NAME_MESSAGE}` })
  toTopic!: string;

  @ApiPropertyOptional({ description: 'Queues of toTopic when it has to be created.' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_QUEUES)
  toQueueCount?: number;
}

export class ResetPreviewQuery {
  @ApiProperty()
  @IsString()
  @MaxLength(127)
  @Matches(NAME, { message: `group ${NAME_MESSAGE}` })
  group!: string;

  @ApiProperty()
  @IsString()
  @MaxLength(127)
  @Matches(NAME, { message: `topic ${NAME_MESSAGE}` })
  topic!: string;

  @ApiProperty({
    description: 'Epoch ms or ISO 8601: the group will start at the first message stored at or after it.',
  })
  @Transform(toEpochMs)
  @IsInt({ message: 'at must be epoch milliseconds or an ISO 8601 date-time' })
  @Min(0)
  at!: number;
}

export class ResetOffsetsDto extends ReasonDto {
  @ApiProperty()
  @IsString()
  @MaxLength(127)
  @Matches(NAME, { message: `group ${NAME_MESSAGE}` })
  group!: string;

  @ApiProperty()
  @IsString()
  @MaxLength(127)
  @Matches(NAME, { message: `topic ${NAME_MESSAGE}` })
  topic!: string;

  @ApiProperty({ description: 'Epoch ms or ISO 8601 (with a zone, or read as the server time).' })
  @Transform(toEpochMs)
  @IsInt({ message: 'at must be epoch milliseconds or an ISO 8601 date-time' })
  @Min(0)
  at!: number;

  @ApiPropertyOptional({
    description:
      "Required as true when the reset moves back over messages older than the group's dedup window (409 " +
      'DEDUP_WINDOW_CONFIRMATION_REQUIRED without it): their dedup records may be gone, so handlers run again.',
  })
  @IsOptional()
  @IsBoolean()
  confirmDedupWindow?: boolean;
}
