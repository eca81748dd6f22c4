import { Body, Controller, Get, HttpCode, Param, ParseUUIDPipe, Post, Query } from '@nestjs/common';
import { ApiConflictResponse, ApiNotFoundResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Principal, RequireRole } from '../auth/roles.decorator';
import { ConsoleApi } from '../http/console-api.decorators';
import type { ConsolePrincipal } from '../http/console-request';
import { parseSort } from '../http/sort';
import { DiscardOutboxRowsDto, ListOutboxRowsQuery, OUTBOX_ROW_SORT, RequeueOutboxRowsDto } from './outbox.dto';
import { OutboxService, type OutboxRowView, type OutboxServiceSummary } from './outbox.service';

@ApiTags('outbox')
@ConsoleApi()
@Controller('api/outbox')
export class OutboxController {
  constructor(private readonly outbox: OutboxService) {}

  @Get()
  @ApiOperation({ summary: 'Per service database: pending, stuck (pending longer than the threshold) and dead rows.' })
  summaries(): Promise<{ stuckAfterMs: number; services: OutboxServiceSummary[] }> {
    return this.outbox.summaries();
  }

  @Get(':service/rows')
  @ApiOperation({ summary: "One service's stuck or dead rows, oldest first unless sort/dir say otherwise." })
  @ApiNotFoundResponse({ description: 'Unknown service.' })
  rows(@Param('service') service: string, @Query() query: ListOutboxRowsQuery) {
    return this.outbox.rows(
      service,
      query.state ?? 'stuck',
      { topic: query.topic, key: query.key },
      query.limit ?? 50,
      query.offset ?? 0,
      parseSort(OUTBOX_ROW_SORT, { sort: query.sort, dir: query.dir }),
    );
  }

  @Get(':service/rows/:id')
  @ApiOperation({ summary: 'One outbox row by message id.' })
  @ApiNotFoundResponse()
  row(
    @Param('service') service: string,
    @Param('id', new ParseUUIDPipe({ version: undefined })) id: string,
  ): Promise<OutboxRowView> {
    return this.outbox.row(service, id);
  }

  @Post(':service/requeue')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({
    summary: 'Make rows pending again with attempts reset, due now; the relay sends them on its next round.',
  })
  @ApiConflictResponse({ description: 'A row is sent or being sent; nothing was changed.' })
  requeue(
    @Param('service') service: string,
    @Body() body: RequeueOutboxRowsDto,
    @Principal() principal: ConsolePrincipal,
  ): Promise<{ requeued: number }> {
    return this.outbox.requeue(service, body.ids, body.reason, principal);
  }

  @Post(':service/discard')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({
    summary: 'Delete rows so they are never sent, with a required reason; the audit log keeps their content.',
  })
  @ApiConflictResponse({ description: 'A row is sent or being sent; nothing was changed.' })
  discard(
    @Param('service') service: string,
    @Body() body: DiscardOutboxRowsDto,
    @Principal() principal: ConsolePrincipal,
  ): Promise<{ discarded: number }> {
    return this.outbox.discard(service, body.ids, body.reason, principal);
  }
}
