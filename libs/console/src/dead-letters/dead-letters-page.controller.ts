import { Get, Header, Inject, Param, Query, Req, UnprocessableEntityException } from '@nestjs/common';
import { AuditLog } from '../audit/audit-log.service';
import { hasPermission, Principal } from '../auth/roles.decorator';
import { CONSOLE_OPTIONS } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import { ParseIdPipe } from '../http/console-api.decorators';
import type { ConsolePrincipal, ConsoleRequest } from '../http/console-request';
import { RetryJobService } from '../jobs/retry-job.service';
import { ConsolePages, HTML } from '../pages/console-pages.decorator';
import { layout } from '../pages/layout';
import { PageContexts } from '../pages/page-contexts.service';
import { parsePageQuery } from '../pages/page-query';
import { safeListUrl } from '../pages/safe-urls';
import { sortableTable } from '../pages/sortable-table';
import { PayloadRedactor } from '../redaction/payload-redactor';
import { RevealGrants } from '../redaction/reveal-grants.service';
import { ConsoleSettingsService } from '../settings/console-settings.service';
import { ConsumerCatalog } from '../sources/consumer-catalog.service';
import { DEAD_LETTER_SORT, ListDeadLettersQuery } from './dead-letter-filter.dto';
import { deadLetterDetailPage } from './dead-letter-detail.page';
import { deadLetterListPage } from './dead-letters.page';
import { DeadLettersService } from './dead-letters.service';

/** Finished bulk retries stay on the dead-letters page this long. */
const RECENT_JOBS_MS = 3_600_000;

/** The dead-letter list and detail pages; their actions go through api/dead-letters and api/jobs. */
@ConsolePages()
export class DeadLettersPageController {
  constructor(
    @Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions,
    private readonly contexts: PageContexts,
    private readonly deadLetters: DeadLettersService,
    private readonly catalog: ConsumerCatalog,
    private readonly jobs: RetryJobService,
    private readonly settings: ConsoleSettingsService,
    private readonly audit: AuditLog,
    private readonly redactor: PayloadRedactor,
    private readonly grants: RevealGrants,
  ) {}

  @Get('dead-letters')
  @Header('Content-Type', HTML)
  async list(
    @Req() request: ConsoleRequest,
    @Principal() principal: ConsolePrincipal,
    @Query() query: Record<string, unknown>,
  ): Promise<string> {
    const context = this.contexts.of(request, principal);
    // An unknown sort column is a 400 naming the allowed ones, before anything else is read.
    const table = sortableTable({
      id: 'dead-letters',
      spec: DEAD_LETTER_SORT,
      base: context.base,
      path: 'dead-letters',
      query,
    });
    const parsed = parsePageQuery(ListDeadLettersQuery, query);
    const { limit = 50, offset = 0, sort: _sort, dir: _dir, ...filter } = parsed.value;
    let error = parsed.error;
    let page: Awaited<ReturnType<DeadLettersService['list']>> = { total: 0, items: [] };
    if (!error) {
      try {
        page = await this.deadLetters.list(filter, limit, offset, table.order);
      } catch (failure) {
        if (!(failure instanceof UnprocessableEntityException)) throw failure;
        error = failure.message;
      }
    }
    const settings = this.settings.get();
    const jobs = this.jobs
      .list()
      .filter(
        (job) =>
          job.state === 'running' ||
          job.state === 'interrupted' ||
          (job.finishedAt ?? 0) > context.now - RECENT_JOBS_MS,
      );
    return layout(
      context,
      'dead-letters',
      'Dead letters',
      deadLetterListPage(context, {
        filter,
        query: parsed.raw,
        limit,
        offset,
        total: page.total,
        items: page.items,
        consumers: this.catalog.list(),
        defaultRate: settings.defaultRetryRatePerSec,
        maxRate: this.options.retry.maxRatePerSec,
        maxBulk: this.options.retry.maxMessages,
        error,
        jobs,
        table,
      }),
    );
  }

  @Get('dead-letters/:id')
  @Header('Content-Type', HTML)
  async detail(
    @Req() request: ConsoleRequest,
    @Principal() principal: ConsolePrincipal,
    @Param('id', ParseIdPipe) id: number,
    @Query('back') back: unknown,
  ): Promise<string> {
    const target = `dead-letter ${id}`;
    const canReveal = hasPermission(principal, 'reveal');
    const revealedUntil = canReveal ? this.grants.revealedUntil(request.consoleSessionId, target) : null;
    const letter = await this.deadLetters.detail(id, revealedUntil !== null);
    const audit = this.audit.forTarget(target);
    const context = this.contexts.of(request, principal);
    const list = safeListUrl(context.base, 'dead-letters', back);
    return layout(
      context,
      'dead-letters',
      `Dead letter ${id}`,
      deadLetterDetailPage(context, letter, audit, list, {
        fields: this.redactor.describe(),
        canReveal,
        revealedUntil,
      }),
    );
  }
}
