import { Controller, Get, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
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
  @ApiOperation({ summary: 'Bulk retries of this console process, newest first.' })
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
  @ApiOperation({ summary: 'Stop a bulk retry between two sends; what was sent stays sent.' })
  cancel(@Param('id', new ParseUUIDPipe()) id: string, @Principal() principal: ConsolePrincipal): RetryJobView {
    return this.jobs.cancel(id, principal);
  }
}
