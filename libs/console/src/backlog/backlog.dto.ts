import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsInt, IsNotEmpty, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { sortSpec } from '../http/sort';
import { toEpochMs } from '../http/query-values';
import { stacked } from '../http/stacked-decorators';

const NAME = /^[A-Za-z0-9._%-]+$/;
const NAME_MESSAGE = 'must be 1–127 letters, digits, ".", "_", "-" or "%"';
/** The engine's ceiling on a topic's queues. */
export const MAX_QUEUES = 1024;

/** A topic or group name as the engine accepts it; a refusal names the field. */
function EngineName(field: string): PropertyDecorator {
  return stacked(IsString(), MaxLength(127), Matches(NAME, { message: `${field} ${NAME_MESSAGE}` }));
}

/** The moment a reset starts the group at: epoch ms or an ISO 8601 date-time, read into epoch ms. */
function StoredAtOrAfter(): PropertyDecorator {
  return stacked(
    Transform(toEpochMs),
    IsInt({ message: 'at must be epoch milliseconds or an ISO 8601 date-time' }),
    Min(0),
  );
}

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
  @EngineName('topic')
  topic!: string;

  @ApiProperty({ description: `The new queue count, larger than the current one, at most ${MAX_QUEUES}.` })
  @IsInt()
  @Min(2)
  @Max(MAX_QUEUES)
  queueCount!: number;
}

export class RedistributeDto extends ReasonDto {
  @ApiProperty({ description: 'The clustering group whose backlog to move.' })
  @EngineName('group')
  group!: string;

  @ApiProperty({ description: 'The topic the backlog is on.' })
  @EngineName('fromTopic')
  fromTopic!: string;

  @ApiPropertyOptional({
    description:
      "A topic to move it to, which the group must then consume too. Left out (the default), the group's own backlog topic, which its consumers of fromTopic read as they are.",
  })
  @IsOptional()
  @EngineName('toTopic')
  toTopic?: string;

  @ApiPropertyOptional({
    description:
      "Queues of the group's own backlog topic (default: fromTopic's count), or of toTopic when it has to be created.",
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(MAX_QUEUES)
  toQueueCount?: number;

  @ApiPropertyOptional({
    description:
      'Expands fromTopic to this many queues first, while the group is paused on it, so that for an orderly group nothing published after the expansion overtakes the backlog.',
  })
  @IsOptional()
  @IsInt()
  @Min(2)
  @Max(MAX_QUEUES)
  expandTo?: number;
}

export class ResetPreviewQuery {
  @ApiProperty()
  @EngineName('group')
  group!: string;

  @ApiProperty()
  @EngineName('topic')
  topic!: string;

  @ApiProperty({
    description: 'Epoch ms or ISO 8601: the group will start at the first message stored at or after it.',
  })
  @StoredAtOrAfter()
  at!: number;
}

export class ResetOffsetsDto extends ReasonDto {
  @ApiProperty()
  @EngineName('group')
  group!: string;

  @ApiProperty()
  @EngineName('topic')
  topic!: string;

  @ApiProperty({ description: 'Epoch ms or ISO 8601 (with a zone, or read as the server time).' })
  @StoredAtOrAfter()
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
