import {
  Body,
  Controller,
  Get,
  Header,
  HttpException,
  Inject,
  NotFoundException,
  Param,
  Post,
  Query,
  Req,
  Res,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { AuditLog } from '../audit/audit-log.service';
import { AuditQueryDto } from '../audit/audit-query.dto';
import { AuthService } from '../auth/auth.service';
import { ConsoleAuthGuard } from '../auth/console-auth.guard';
import { Principal, PublicRoute, RequireRole } from '../auth/roles.decorator';
import { UserDirectory } from '../auth/user-directory.service';
import { CONSOLE_MOUNT_PATH, CONSOLE_OPTIONS } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import { ListDeadLettersQuery } from '../dead-letters/dead-letter-filter.dto';
import { DeadLettersService } from '../dead-letters/dead-letters.service';
import { ParseIdPipe } from '../http/console-api.decorators';
import type { ConsolePrincipal, ConsoleRequest, ConsoleResponse } from '../http/console-request';
import { mountBase } from '../http/mount-path';
import { RetryJobService } from '../jobs/retry-job.service';
import { ListOutboxRowsQuery } from '../outbox/outbox.dto';
import { OutboxService } from '../outbox/outbox.service';
import { MetricsSampler } from '../overview/metrics-sampler.service';
import { CHART_RANGES, SERIES_KINDS, type ChartRange } from '../overview/overview.controller';
import { OverviewService } from '../overview/overview.service';
import { ConsoleSettingsService } from '../settings/console-settings.service';
import { ConsumerCatalog } from '../sources/consumer-catalog.service';
import { ListHalfMessagesQuery } from '../transactions/transactions.dto';
import { TransactionsService } from '../transactions/transactions.service';
import { ConsoleAssets } from './console-assets';
import { layout, loginPage, type PageContext } from './layout';
import { PageExceptionFilter } from './page-exception.filter';
import { parsePageQuery } from './page-query';
import { adminPage } from './pages/admin.page';
import { auditPage } from './pages/audit.page';
import { deadLetterDetailPage, deadLetterListPage } from './pages/dead-letters.page';
import { outboxPage } from './pages/outbox.page';
import { overviewPage } from './pages/overview.page';
import { transactionsPage } from './pages/transactions.page';

const HTML = 'text/html; charset=utf-8';
/** Finished bulk retries stay on the dead-letters page this long. */
const RECENT_JOBS_MS = 3_600_000;

/** The HTML pages: rendered on the server, each behind login; actions go through the JSON API. */
@ApiExcludeController()
@UseGuards(ConsoleAuthGuard)
@UseFilters(PageExceptionFilter)
@Controller()
export class PagesController {
  constructor(
    @Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions,
    @Inject(CONSOLE_MOUNT_PATH) private readonly mount: string,
    private readonly assets: ConsoleAssets,
    private readonly auth: AuthService,
    private readonly overview: OverviewService,
    private readonly sampler: MetricsSampler,
    private readonly deadLetters: DeadLettersService,
    private readonly catalog: ConsumerCatalog,
    private readonly jobs: RetryJobService,
    private readonly settings: ConsoleSettingsService,
    private readonly outbox: OutboxService,
    private readonly transactions: TransactionsService,
    private readonly audit: AuditLog,
    private readonly users: UserDirectory,
  ) {}

  @Get('assets/:file')
  @PublicRoute()
  asset(@Param('file') file: string, @Res() response: ConsoleResponse): void {
    const asset = this.assets.get(file);
    if (!asset) throw new NotFoundException(`There is no asset ${file}.`);
    response.setHeader('Content-Type', asset.type);
    response.setHeader('Cache-Control', 'no-cache');
    response.setHeader('ETag', asset.etag);
    response.end(asset.body);
  }

  @Get('login')
  @PublicRoute()
  @Header('Content-Type', HTML)
  loginForm(@Req() request: ConsoleRequest, @Query('next') next: unknown): string {
    const base = this.base(request);
    return loginPage(base, safeNext(base, next), null);
  }

  @Post('login')
  @PublicRoute()
  async login(
    @Req() request: ConsoleRequest,
    @Res() response: ConsoleResponse,
    @Body() body: Record<string, unknown> | undefined,
  ): Promise<void> {
    const base = this.base(request);
    const next = safeNext(base, body?.next);
    const username = typeof body?.username === 'string' ? body.username.slice(0, 64) : '';
    const password = typeof body?.password === 'string' ? body.password.slice(0, 1024) : '';
    try {
      if (!username || !password) throw new HttpException('Enter a username and a password.', 400);
      await this.auth.login(username, password, request, response);
    } catch (error) {
      const status = error instanceof HttpException ? error.getStatus() : 500;
      const message = error instanceof HttpException ? error.message : 'Logging in failed.';
      response.status(status);
      response.setHeader('Content-Type', HTML);
      response.end(loginPage(base, next, message));
      return;
    }
    response.redirect(303, next);
  }

  @Get()
  @Header('Content-Type', HTML)
  async overviewPage(
    @Req() request: ConsoleRequest,
    @Principal() principal: ConsolePrincipal,
    @Query('range') rangeParam: unknown,
  ): Promise<string> {
    const range: ChartRange =
      typeof rangeParam === 'string' && rangeParam in CHART_RANGES ? (rangeParam as ChartRange) : '1h';
    const view = await this.overview.overview();
    const context = this.context(request, principal);
    const series = this.sampler.recent(SERIES_KINDS, CHART_RANGES[range]);
    return layout(
      context,
      '',
      'Overview',
      overviewPage(context, view, series, range, CHART_RANGES[range], Object.keys(CHART_RANGES)),
    );
  }

  @Get('dead-letters')
  @Header('Content-Type', HTML)
  async deadLetterList(
    @Req() request: ConsoleRequest,
    @Principal() principal: ConsolePrincipal,
    @Query() query: Record<string, unknown>,
  ): Promise<string> {
    const parsed = parsePageQuery(ListDeadLettersQuery, query);
    const { limit = 50, offset = 0, ...filter } = parsed.value;
    const page = parsed.error ? { total: 0, items: [] } : await this.deadLetters.list(filter, limit, offset);
    const context = this.context(request, principal);
    const settings = this.settings.get();
    const jobs = this.jobs
      .list()
      .filter((job) => job.state === 'running' || (job.finishedAt ?? 0) > context.now - RECENT_JOBS_MS);
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
        error: parsed.error,
        jobs,
      }),
    );
  }

  @Get('dead-letters/:id')
  @Header('Content-Type', HTML)
  async deadLetterDetail(
    @Req() request: ConsoleRequest,
    @Principal() principal: ConsolePrincipal,
    @Param('id', ParseIdPipe) id: number,
  ): Promise<string> {
    const letter = await this.deadLetters.detail(id);
    const audit = this.audit.forTarget(`dead-letter ${id}`);
    const context = this.context(request, principal);
    return layout(context, 'dead-letters', `Dead letter ${id}`, deadLetterDetailPage(context, letter, audit));
  }

  @Get('outbox')
  @Header('Content-Type', HTML)
  async outboxPage(
    @Req() request: ConsoleRequest,
    @Principal() principal: ConsolePrincipal,
    @Query() query: Record<string, unknown>,
  ): Promise<string> {
    const service = typeof query.service === 'string' && query.service !== '' ? query.service : null;
    const rest = { ...query };
    delete rest.service;
    const parsed = parsePageQuery(ListOutboxRowsQuery, rest);
    const summaries = await this.outbox.summaries();
    const known = service !== null && summaries.services.some((entry) => entry.name === service);
    if (service !== null && !known) throw new NotFoundException(`There is no service database "${service}".`);
    const state = parsed.value.state ?? 'stuck';
    const limit = parsed.value.limit ?? 50;
    const offset = parsed.value.offset ?? 0;
    let rows = null;
    let error = parsed.error;
    if (service !== null && !error) {
      try {
        rows = await this.outbox.rows(
          service,
          state,
          { topic: parsed.value.topic, key: parsed.value.key },
          limit,
          offset,
        );
      } catch (failure) {
        error = (failure as Error).message;
      }
    }
    const context = this.context(request, principal);
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
      }),
    );
  }

  @Get('transactions')
  @Header('Content-Type', HTML)
  async transactionsPage(
    @Req() request: ConsoleRequest,
    @Principal() principal: ConsolePrincipal,
    @Query() query: Record<string, unknown>,
  ): Promise<string> {
    const parsed = parsePageQuery(ListHalfMessagesQuery, query);
    const state = parsed.value.state ?? 'discarded';
    const limit = parsed.value.limit ?? 50;
    const offset = parsed.value.offset ?? 0;
    const counts = await this.transactions.counts();
    const page = parsed.error
      ? { supported: counts.supported, total: 0, items: [] }
      : await this.transactions.list(
          state,
          { producerGroup: parsed.value.producerGroup, topic: parsed.value.topic, id: parsed.value.id },
          limit,
          offset,
        );
    const context = this.context(request, principal);
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
        error: parsed.error,
      }),
    );
  }

  @Get('audit')
  @Header('Content-Type', HTML)
  auditPage(
    @Req() request: ConsoleRequest,
    @Principal() principal: ConsolePrincipal,
    @Query() query: Record<string, unknown>,
  ): string {
    const parsed = parsePageQuery(AuditQueryDto, query);
    const { limit = 100, offset = 0, ...filter } = parsed.value;
    const page = parsed.error ? { total: 0, items: [] } : this.audit.query({ ...filter, limit, offset });
    const context = this.context(request, principal);
    return layout(context, 'audit', 'Audit log', auditPage(context, parsed.raw, page, limit, offset, parsed.error));
  }

  @Get('admin')
  @RequireRole('admin')
  @Header('Content-Type', HTML)
  adminPage(@Req() request: ConsoleRequest, @Principal() principal: ConsolePrincipal): string {
    const context = this.context(request, principal);
    return layout(
      context,
      'admin',
      'Admin',
      adminPage(context, {
        users: this.users.list(),
        settings: this.settings.get(),
        maxRate: this.options.retry.maxRatePerSec,
        consumers: this.catalog.list(),
        jobs: this.jobs.list(),
      }),
    );
  }

  private base(request: ConsoleRequest): string {
    return mountBase(request, this.mount);
  }

  private context(request: ConsoleRequest, principal: ConsolePrincipal): PageContext {
    const broker = this.options.broker;
    return {
      base: this.base(request),
      principal,
      brokerLabel: broker.label ?? broker.transport.kind,
      now: this.options.now(),
    };
  }
}

/** Where to go after logging in: only a path under the console, never another site. */
function safeNext(base: string, next: unknown): string {
  if (typeof next !== 'string' || next.length > 2000) return base;
  if (next !== base && !next.startsWith(`${base}/`) && !next.startsWith(`${base}?`)) return base;
  if (next.includes('//') || next.includes('\\') || next.startsWith(`${base}/login`)) return base;
  return next;
}
