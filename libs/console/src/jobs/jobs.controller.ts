import { Controller, Get, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiConflictResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Principal, RequireRole } from '../auth/roles.decorator';
import { ConsoleApi } from '../http/console-api.decorators';
import type { ConsolePrincipal } from '../http/console-request';
import { RetryJobService, type RetryJobView } from './retry-job.service';

@ApiTags('bulk retries')
@ConsoleApi()
@Controller('api/jobs')
export class JobsController {
  constructor(private readonly jobs: RetryJobService) {}

  @Get()
  @ApiOperation({
    summary: 'Bulk retries, newest first: running, interrupted, and the last 100 finished.',
    description: "Read from the console's store, so they outlive a console restart.",
  })
  list(): { items: RetryJobView[] } {
    return { items: this.jobs.list() };
  }

  @Get(':id')
  @ApiOperation({ summary: 'Progress of a bulk retry.' })
  @ApiNotFoundResponse()
  get(@Param('id', new ParseUUIDPipe()) id: string): RetryJobView {
    return this.jobs.get(id);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({
    summary: 'Stop a bulk retry between two sends, or close an interrupted one; what was sent stays sent.',
  })
  @ApiNotFoundResponse()
  @ApiConflictResponse({ description: 'The job has already finished.' })
  cancel(@Param('id', new ParseUUIDPipe()) id: string, @Principal() principal: ConsolePrincipal): RetryJobView {
    return this.jobs.cancel(id, principal);
  }

  @Post(':id/resume')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({
    summary: 'Resume an interrupted bulk retry from where it stopped, at its rate.',
    description:
      'A job is interrupted when its console stopped while it was running; it is never resumed automatically. ' +
      'Letters that are not dead any more (sent before the interruption, or by someone else since) are skipped.',
  })
  @ApiOkResponse({ description: 'The job, running again.' })
  @ApiNotFoundResponse()
  @ApiConflictResponse({
    description: 'The job is not interrupted (running or finished), or as many jobs as allowed are running.',
  })
  resume(@Param('id', new ParseUUIDPipe()) id: string, @Principal() principal: ConsolePrincipal): RetryJobView {
    return this.jobs.resume(id, principal);
  }
}
