import { Body, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Principal, RequireRole } from '../auth/roles.decorator';
import { ConsoleApi } from '../http/console-api.decorators';
import type { ConsolePrincipal } from '../http/console-request';
import { parseSort } from '../http/sort';
import {
  CommitHalfMessagesDto,
  DiscardHalfMessagesDto,
  HALF_MESSAGE_SORT,
  ListHalfMessagesQuery,
} from './transactions.dto';
import { TransactionsService } from './transactions.service';

@ApiTags('transactions')
@ConsoleApi()
@Controller('api/transactions')
export class TransactionsController {
  constructor(private readonly transactions: TransactionsService) {}

  @Get()
  @ApiOperation({
    summary: 'Half messages: unresolved (waiting for commit, rollback or checkback) or discarded (out of checks).',
  })
  list(@Query() query: ListHalfMessagesQuery) {
    return this.transactions.list(
      query.state ?? 'discarded',
      { producerGroup: query.producerGroup, topic: query.topic, id: query.id },
      query.limit ?? 50,
      query.offset ?? 0,
      parseSort(HALF_MESSAGE_SORT, { sort: query.sort, dir: query.dir }),
    );
  }

  @Post('commit')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({ summary: 'Commit discarded half messages by hand: consumers get them. All or none.' })
  @ApiNotFoundResponse({ description: 'A transaction id is not a discarded half message.' })
  commit(
    @Body() body: CommitHalfMessagesDto,
    @Principal() principal: ConsolePrincipal,
  ): Promise<{ committed: string[] }> {
    return this.transactions.commit(body.txIds, body.reason, principal);
  }

  @Post('discard')
  @HttpCode(200)
  @RequireRole('operator')
  @ApiOperation({ summary: 'Never deliver discarded half messages, with a required reason. All or none.' })
  @ApiNotFoundResponse({ description: 'A transaction id is not a discarded half message.' })
  discard(
    @Body() body: DiscardHalfMessagesDto,
    @Principal() principal: ConsolePrincipal,
  ): Promise<{ discarded: string[] }> {
    return this.transactions.discard(body.txIds, body.reason, principal);
  }
}
