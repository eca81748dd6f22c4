import { Body, Controller, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiConflictResponse,
  ApiNotFoundResponse,
  ApiOperation,
  ApiTags,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import { Principal, RequirePermission, RequireRole } from '../auth/roles.decorator';
import { ConsoleApi, ParseIdPipe } from '../http/console-api.decorators';
import type { ConsolePrincipal, ConsoleRequest } from '../http/console-request';
import type { RetryJobView } from '../jobs/retry-job.service';
import {
  BulkRetryDto,
  DiscardDeadLetterDto,
  DiscardDeadLettersDto,
  RetryDeadLetterDto,
  RevealPayloadDto,
} from './dead-letter-actions.dto';
import { parseSort } from '../http/sort';
import { DEAD_LETTER_SORT, ListDeadLettersQuery } from './dead-letter-filter.dto';
import type { DeadLetterDetail, DeadLetterSummary, PayloadView } from './dead-letter.view';
import { DeadLettersService, MAX_SORTED_DEAD_LETTERS } from './dead-letters.service';

@ApiTags('dead letters')
@ConsoleApi()
@Controller('api/dead-letters')
export class DeadLettersController {
  constructor(private readonly deadLetters: DeadLettersService) {}

  @Get()
  @ApiOperation({
    summary: 'Dead letters matching a filter, one page; newest first unless sort/dir say otherwise.',
    description: `Sorting by another column than deadAt covers at most ${MAX_SORTED_DEAD_LETTERS} matches (422 beyond).`,
  })
  list(@Query() query: ListDeadLettersQuery): Promise<{ total: number; items: DeadLetterSummary[] }> {
    const { limit = 50, offset = 0, sort, dir, ...filter } = query;
    return this.deadLetters.list(filter, limit, offset, parseSort(DEAD_LETTER_SORT, { sort, dir }));
  }

  @Get(':id')
  @ApiOperation({ summary: 'One dead letter: payload, headers, attempt history, last error.' })
  @ApiNotFoundResponse()
  detail(@Param('id', ParseIdPipe) id: number): Promise<DeadLetterDetail> {
    return this.deadLetters.detail(id);
  }

  @Post(':id/reveal')
  @HttpCode(200)
  @RequirePermission('reveal')
  @ApiOperation({
    summary: "One dead letter's payload with the masked fields in clear; needs the reveal permission and a reason.",
    description:
      'Audited as payload.reveal. For a login session, the detail page also shows the real values for 5 minutes.',
  })
  @ApiNotFoundResponse()
  reveal(
    @Param('id', ParseIdPipe) id: number,
    @Body() body: RevealPayloadDto,
    @Principal() principal: ConsolePrincipal,
    @Req() request: ConsoleRequest,
  ): Promise<{ id: number; payload: PayloadView; revealedUntil: number | null }> {
    return this.deadLetters.reveal(id, body.reason, principal, request.consoleSessionId);
  }

  @Post(':id/retry')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({
    summary: 'Retry one dead letter, as it was or with an edited payload/headers.',
    description:
      "An edited payload is validated against the handler's DTO or schema (422 when it would be refused); a console " +
      'that knows no handler asks a live consumer through the broker, and when none can answer the edit needs ' +
      "confirmUnchecked: true (409 EDIT_UNCHECKED_CONFIRMATION_REQUIRED). A message older than its group's dedup " +
      'window needs confirmDedupWindow: true (409 DEDUP_WINDOW_CONFIRMATION_REQUIRED).',
  })
  @ApiNotFoundResponse()
  @ApiConflictResponse({
    description:
      'Not dead any more, older than the dedup window without confirmation, or an edit no live consumer could check ' +
      'without confirmation.',
  })
  @ApiUnprocessableEntityResponse({ description: "The edit fails the handler's DTO or schema." })
  retry(
    @Param('id', ParseIdPipe) id: number,
    @Body() body: RetryDeadLetterDto,
    @Principal() principal: ConsolePrincipal,
  ): Promise<{ resent: number[]; edited: boolean }> {
    return this.deadLetters.retryOne(id, body ?? {}, principal);
  }

  @Post('retry')
  @HttpCode(202)
  @RequireRole('operator')
  @ApiOperation({
    summary: 'Retry a selection, or everything matching a filter, at a rate limit.',
    description:
      'Starts a bulk retry job; follow it with GET api/jobs/{id} and stop it with POST api/jobs/{id}/cancel.',
  })
  @ApiAcceptedResponse({ description: 'The job, running.' })
  retryMany(@Body() body: BulkRetryDto, @Principal() principal: ConsolePrincipal): Promise<RetryJobView> {
    return this.deadLetters.retryMany(body, principal);
  }

  @Post('discard')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({ summary: 'Discard dead letters, with a required reason. All or none.' })
  discardMany(
    @Body() body: DiscardDeadLettersDto,
    @Principal() principal: ConsolePrincipal,
  ): Promise<{ discarded: number[] }> {
    return this.deadLetters.discard(body.ids, body.reason, principal);
  }

  @Post(':id/discard')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({ summary: 'Discard one dead letter, with a required reason.' })
  discardOne(
    @Param('id', ParseIdPipe) id: number,
    @Body() body: DiscardDeadLetterDto,
    @Principal() principal: ConsolePrincipal,
  ): Promise<{ discarded: number[] }> {
    return this.deadLetters.discard([id], body.reason, principal);
  }
}
