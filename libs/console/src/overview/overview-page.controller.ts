import { Get, Header, Query, Req } from '@nestjs/common';
import { Principal } from '../auth/roles.decorator';
import type { ConsolePrincipal, ConsoleRequest } from '../http/console-request';
import { ConsolePages, HTML } from '../pages/console-pages.decorator';
import { layout } from '../pages/layout';
import { PageContexts } from '../pages/page-contexts.service';
import { MetricsSampler } from './metrics-sampler.service';
import { CHART_RANGES, SERIES_KINDS, type ChartRange } from './overview.controller';
import { overviewPage } from './overview.page';
import { OverviewService } from './overview.service';

/** The overview page, the console's home. */
@ConsolePages()
export class OverviewPageController {
  constructor(
    private readonly contexts: PageContexts,
    private readonly overview: OverviewService,
    private readonly sampler: MetricsSampler,
  ) {}

  @Get()
  @Header('Content-Type', HTML)
  async page(
    @Req() request: ConsoleRequest,
    @Principal() principal: ConsolePrincipal,
    @Query() query: Record<string, unknown>,
  ): Promise<string> {
    const rangeParam = query.range;
    const range: ChartRange =
      typeof rangeParam === 'string' && Object.hasOwn(CHART_RANGES, rangeParam) ? (rangeParam as ChartRange) : '1h';
    const view = await this.overview.overview();
    const context = this.contexts.of(request, principal);
    const series = this.sampler.recent(SERIES_KINDS, CHART_RANGES[range]);
    return layout(
      context,
      '',
      'Overview',
      overviewPage(context, view, series, range, CHART_RANGES[range], Object.keys(CHART_RANGES), query),
    );
  }
}
