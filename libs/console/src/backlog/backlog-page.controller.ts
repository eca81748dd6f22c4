import { Controller, Get, Header, Inject, Query, Req, UseFilters, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { ConsoleAuthGuard } from '../auth/console-auth.guard';
import { Principal } from '../auth/roles.decorator';
import { CONSOLE_MOUNT_PATH, CONSOLE_OPTIONS } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import type { ConsolePrincipal, ConsoleRequest } from '../http/console-request';
import { mountBase } from '../http/mount-path';
import { ConsoleAssets } from '../pages/console-assets';
import { layout, type PageContext } from '../pages/layout';
import { PageExceptionFilter } from '../pages/page-exception.filter';
import { sortableTable } from '../pages/sortable-table';
import { BACKLOG_SORT } from './backlog.dto';
import { backlogPage } from './backlog.page';
import { BacklogService } from './backlog.service';

/** The Backlog page: rendered on the server behind login like the others; its actions go through api/backlog. */
@ApiExcludeController()
@UseGuards(ConsoleAuthGuard)
@UseFilters(PageExceptionFilter)
@Controller()
export class BacklogPageController {
  constructor(
    @Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions,
    @Inject(CONSOLE_MOUNT_PATH) private readonly mount: string,
    private readonly assets: ConsoleAssets,
    private readonly backlog: BacklogService,
  ) {}

  @Get('backlog')
  @Header('Content-Type', 'text/html; charset=utf-8')
  async page(
    @Req() request: ConsoleRequest,
    @Principal() principal: ConsolePrincipal,
    @Query() query: Record<string, unknown>,
  ): Promise<string> {
    const base = mountBase(request, this.mount);
    // An unknown sort column is a 400 naming the allowed ones, before the broker is asked.
    const table = sortableTable({ id: 'backlog', spec: BACKLOG_SORT, base, path: 'backlog', query });
    const view = await this.backlog.view();
    const broker = this.options.broker;
    const context: PageContext = {
      base,
      principal,
      brokerLabel: broker.label ?? broker.transport.kind,
      now: this.options.now(),
      bundle: this.assets.bundle,
    };
    return layout(context, 'backlog', 'Backlog', backlogPage(context, view, table));
  }
}
