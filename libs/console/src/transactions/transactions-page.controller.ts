import { Get, Header, Query, Req, UnprocessableEntityException } from '@nestjs/common';
import { Principal } from '../auth/roles.decorator';
import type { ConsolePrincipal, ConsoleRequest } from '../http/console-request';
import { ConsolePages, HTML } from '../pages/console-pages.decorator';
import { layout } from '../pages/layout';
import { PageContexts } from '../pages/page-contexts.service';
import { parsePageQuery } from '../pages/page-query';
import { sortableTable } from '../pages/sortable-table';
import { HALF_MESSAGE_SORT, ListHalfMessagesQuery } from './transactions.dto';
import { transactionsPage } from './transactions.page';
import { TransactionsService } from './transactions.service';

/** The Transactions page (half messages by state); its discard goes through api/transactions. */
@ConsolePages()
export class TransactionsPageController {
  constructor(
    private readonly contexts: PageContexts,
    private readonly transactions: TransactionsService,
  ) {}

  @Get('transactions')
  @Header('Content-Type', HTML)
  async transactionsPage(
    @Req() request: ConsoleRequest,
    @Principal() principal: ConsolePrincipal,
    @Query() query: Record<string, unknown>,
  ): Promise<string> {
    const table = sortableTable({
      id: 'half-messages',
      spec: HALF_MESSAGE_SORT,
      base: this.contexts.base(request),
      path: 'transactions',
      query,
    });
    const parsed = parsePageQuery(ListHalfMessagesQuery, query);
    const state = parsed.value.state ?? 'discarded';
    const limit = parsed.value.limit ?? 50;
    const offset = parsed.value.offset ?? 0;
    const counts = await this.transactions.counts();
    let error = parsed.error;
    let page: { total: number; items: Awaited<ReturnType<TransactionsService['list']>>['items'] } = {
      total: 0,
      items: [],
    };
    if (!error) {
      try {
        page = await this.transactions.list(
          state,
          { producerGroup: parsed.value.producerGroup, topic: parsed.value.topic, id: parsed.value.id },
          limit,
          offset,
          table.order,
        );
      } catch (failure) {
        if (!(failure instanceof UnprocessableEntityException)) throw failure;
        error = failure.message;
      }
    }
    const context = this.contexts.of(request, principal);
    return layout(
      context,
      'transactions',
      'Transactions',
      transactionsPage(context, {
        supported: counts.supported,
        state,
        query: parsed.raw,
        total: page.total,
        items: page.items,
        counts,
        limit,
        offset,
        error,
        table,
      }),
    );
  }
}
