import { Get, Header, NotFoundException, Query, Req } from '@nestjs/common';
import { Principal } from '../auth/roles.decorator';
import type { ConsolePrincipal, ConsoleRequest } from '../http/console-request';
import { sortParams } from '../http/sort';
import { ConsolePages, HTML } from '../pages/console-pages.decorator';
import { layout } from '../pages/layout';
import { PageContexts } from '../pages/page-contexts.service';
import { parsePageQuery } from '../pages/page-query';
import { sortableTable } from '../pages/sortable-table';
import { ListOutboxRowsQuery, OUTBOX_ROW_SORT } from './outbox.dto';
import { OUTBOX_SERVICE_SORT, outboxPage } from './outbox.page';
import { OutboxService, type OutboxRowView } from './outbox.service';

/** The services' tables sort by `serviceSort`/`serviceDir`, so that the rows' table keeps `sort`/`dir`. */
const SERVICE_SORT_PARAMS = sortParams('service');

/** The Outbox page; its requeue and discard go through api/outbox. */
@ConsolePages()
export class OutboxPageController {
  constructor(
    private readonly contexts: PageContexts,
    private readonly outbox: OutboxService,
  ) {}

  @Get('outbox')
  @Header('Content-Type', HTML)
  async page(
    @Req() request: ConsoleRequest,
    @Principal() principal: ConsolePrincipal,
    @Query() query: Record<string, unknown>,
  ): Promise<string> {
    const base = this.contexts.base(request);
    const rowTable = sortableTable({ id: 'outbox-rows', spec: OUTBOX_ROW_SORT, base, path: 'outbox', query });
    const serviceTable = sortableTable({
      id: 'outbox-services',
      spec: OUTBOX_SERVICE_SORT,
      base,
      path: 'outbox',
      query,
      params: SERVICE_SORT_PARAMS,
    });
    const service = typeof query.service === 'string' && query.service !== '' ? query.service : null;
    const rest = { ...query };
    delete rest.service;
    delete rest[SERVICE_SORT_PARAMS.sort];
    delete rest[SERVICE_SORT_PARAMS.dir];
    const parsed = parsePageQuery(ListOutboxRowsQuery, rest);
    const summaries = await this.outbox.summaries();
    const known = service !== null && summaries.services.some((entry) => entry.name === service);
    if (service !== null && !known) throw new NotFoundException(`There is no service database "${service}".`);
    const state = parsed.value.state ?? 'stuck';
    const limit = parsed.value.limit ?? 50;
    const offset = parsed.value.offset ?? 0;
    let rows: { total: number; items: OutboxRowView[] } | null = null;
    let error = parsed.error;
    if (service !== null && !error) {
      try {
        rows = await this.outbox.rows(
          service,
          state,
          { topic: parsed.value.topic, key: parsed.value.key },
          limit,
          offset,
          rowTable.order,
        );
      } catch (failure) {
        error = (failure as Error).message;
      }
    }
    const context = this.contexts.of(request, principal);
    return layout(
      context,
      'outbox',
      'Outbox',
      outboxPage(context, {
        services: summaries.services,
        stuckAfterMs: summaries.stuckAfterMs,
        service,
        state,
        query: parsed.raw,
        rows,
        limit,
        offset,
        error,
        rowTable,
        serviceTable,
      }),
    );
  }
}
