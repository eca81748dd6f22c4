import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { TopicInfo } from '@reliable-mq/engine';
import { Principal, RequireRole } from '../auth/roles.decorator';
import { ConsoleApi } from '../http/console-api.decorators';
import type { ConsolePrincipal } from '../http/console-request';
import type { BacklogMoveView } from './backlog-move-tracker';
import { ExpandQueuesDto, RedistributeDto, ResetOffsetsDto, ResetPreviewQuery } from './backlog.dto';
import { BacklogService, type BacklogView, type ResetPreview } from './backlog.service';

@ApiTags('backlog')
@ConsoleApi()
@Controller('api/backlog')
export class BacklogController {
  constructor(private readonly backlog: BacklogService) {}

  @Get()
  @ApiOperation({
    summary: 'Per group and topic, largest lag first: lag in messages and time, rates, members, drain estimate.',
    description: 'Also which actions this broker offers, and the backlog moves started from this console.',
  })
  view(): Promise<BacklogView> {
    return this.backlog.view();
  }

  @Post('expand')
  @HttpCode(200)
  @RequireRole('admin')
  @ApiOperation({
    summary: "Raise a topic's queue count online, with a reason; members rebalance onto the new queues.",
    description: 'From then on keys may map to other queues: per-key order holds again once the old queues drain.',
  })
  @ApiConflictResponse({ description: 'This broker cannot add queues (RabbitMQ).' })
  expand(@Body() body: ExpandQueuesDto, @Principal() principal: ConsolePrincipal): Promise<TopicInfo> {
    return this.backlog.expand(body, principal);
  }

  @Post('redistribute')
  @HttpCode(202)
  @RequireRole('admin')
  @ApiOperation({
    summary: "Move a group's unconsumed backlog onto a topic with more queues, each key in order, with a reason.",
    description:
      "Answers at once with the move; follow it with GET api/backlog/moves/{id}. Without toTopic the backlog goes onto the group's own queues, which its consumers read as they are; with toTopic the group must consume that topic too.",
  })
  @ApiAcceptedResponse({ description: 'The move, running.' })
  @ApiBadRequestResponse({ description: 'The broker refused the move at once: unknown topic, broadcasting group, …' })
  redistribute(@Body() body: RedistributeDto, @Principal() principal: ConsolePrincipal): Promise<BacklogMoveView> {
    return this.backlog.startRedistribute(body, principal);
  }

  @Get('moves/:id')
  @ApiOperation({ summary: 'Progress of a backlog move started from this console.' })
  @ApiNotFoundResponse()
  move(@Param('id', new ParseUUIDPipe()) id: string): Promise<BacklogMoveView> {
    return this.backlog.move(id);
  }

  @Get('reset-preview')
  @ApiOperation({
    summary: "What resetting a group's offsets to a time would do: messages skipped, or delivered again.",
    description: 'Changes nothing. dedupWarning is set when moving back reaches past the dedup window.',
  })
  previewReset(@Query() query: ResetPreviewQuery): Promise<ResetPreview> {
    return this.backlog.previewReset(query.group, query.topic, query.at);
  }

  @Post('reset')
  @HttpCode(200)
  @RequireRole('admin')
  @ApiOperation({
    summary: "Reset a group's offsets on a topic to a time, with a reason: skip what was stored before it.",
    description:
      'Moving back over messages older than the dedup window needs confirmDedupWindow: true (409 ' +
      'DEDUP_WINDOW_CONFIRMATION_REQUIRED). The audit entry counts the messages skipped and delivered again.',
  })
  @ApiConflictResponse({ description: 'Past the dedup window without confirmation, or a broker that cannot reset.' })
  reset(@Body() body: ResetOffsetsDto, @Principal() principal: ConsolePrincipal): Promise<ResetPreview> {
    return this.backlog.reset(body, principal);
  }
}
