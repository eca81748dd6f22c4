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
  UnprocessableEntityException,
  UseFilters,
  UseGuards,
} from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { AuditLog } from '../audit/audit-log.service';
import { AUDIT_SORT, AuditQueryDto } from '../audit/audit-query.dto';
import { AuthService } from '../auth/auth.service';
import { PRE_SESSION_FIELD, preSessionToken } from '../auth/login-origin';
import { ConsoleAuthGuard } from '../auth/console-auth.guard';
import { hasPermission, Principal, PublicRoute, RequireRole } from '../auth/roles.decorator';
import { UserDirectory } from '../auth/user-directory.service';
import { CONSOLE_MOUNT_PATH, CONSOLE_OPTIONS } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import { DEAD_LETTER_SORT, ListDeadLettersQuery } from '../dead-letters/dead-letter-filter.dto';
import { DeadLettersService } from '../dead-letters/dead-letters.service';
import { ParseIdPipe } from '../http/console-api.decorators';
import type { ConsolePrincipal, ConsoleRequest, ConsoleResponse } from '../http/console-request';
import { appendSetCookie } from '../http/console-request';
import { mountBase } from '../http/mount-path';
import { RetryJobService } from '../jobs/retry-job.service';
import { ListOutboxRowsQuery, OUTBOX_ROW_SORT } from '../outbox/outbox.dto';
import { OutboxService } from '../outbox/outbox.service';
import { MetricsSampler } from '../overview/metrics-sampler.service';
import { CHART_RANGES, SERIES_KINDS, type ChartRange } from '../overview/overview.controller';
import { OverviewService } from '../overview/overview.service';
import { PayloadRedactor } from '../redaction/payload-redactor';
import { RevealGrants } from '../redaction/reveal-grants.service';
import { ConsoleSettingsService } from '../settings/console-settings.service';
import { ConsumerCatalog } from '../sources/consumer-catalog.service';
import { HALF_MESSAGE_SORT, ListHalfMessagesQuery } from '../transactions/transactions.dto';
import { TransactionsService } from '../transactions/transactions.service';
import { ConsoleAssets } from './console-assets';
import { layout, loginPage, type PageContext } from './layout';
import { PageExceptionFilter } from './page-exception.filter';
import { parsePageQuery } from './page-query';
import { adminPage } from './admin.page';
import { auditPage } from './audit.page';
import { deadLetterDetailPage, deadLetterListPage } from './dead-letters.page';
import { OUTBOX_SERVICE_SORT, outboxPage } from './outbox.page';
import { overviewPage } from './overview.page';
import { transactionsPage } from './transactions.page';
import { sortableTable } from './sortable-table';
import { sortParams } from '../http/sort';

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
    private readonly redactor: PayloadRedactor,
    private readonly grants: RevealGrants,
  ) {}

  @Get('assets/:file')
  @PublicRoute()
  asset(@Param('file') file: string, @Res() response: ConsoleResponse): void {
    const asset = this.assets.get(file);
    if (!asset) throw new NotFoundException(`There is no asset ${file}.`);
    response.setHeader('Content-Type', asset.type);
    // Names carry a hash of the content: a new build gets new names, so a copy never needs checking again.
    response.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    response.setHeader('ETag', asset.etag);
    response.end(asset.body);
  }

  @Get('login')
  @PublicRoute()
  @Header('Content-Type', HTML)
  loginForm(
    @Req() request: ConsoleRequest,
    @Res({ passthrough: true }) response: ConsoleResponse,
    @Query('next') next: unknown,
  ): string {
    const base = this.base(request);
    const token = this.preSessionToken(request, response);
    return loginPage(base, this.assets.bundle, safeNext(base, next), null, token);
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
      await this.auth.login(username, password, request, response, {
        form: true,
        formToken: body?.[PRE_SESSION_FIELD],
      });
    } catch (error) {
      const status = error instanceof HttpException ? error.getStatus() : 500;
      const message = error instanceof HttpException ? error.message : 'Logging in failed.';
      const token = this.preSessionToken(request, response);
      response.status(status);
      response.setHeader('Content-Type', HTML);
      response.end(loginPage(base, this.assets.bundle, next, message, token));
      return;
    }
    response.redirect(303, next);
  }

  @Get()
  @Header('Content-Type', HTML)
  async overviewPage(
    @Req() request: ConsoleRequest,
    @Principal() principal: ConsolePrincipal,
    @Query() query: Record<string, unknown>,
  ): Promise<string> {
    const rangeParam = query.range;
    const range: ChartRange =
      typeof rangeParam === 'string' && Object.hasOwn(CHART_RANGES, rangeParam) ? (rangeParam as ChartRange) : '1h';
    const view = await this.overview.overview();
    const context = this.context(request, principal);
    const series = this.sampler.recent(SERIES_KINDS, CHART_RANGES[range]);
    return layout(
      context,
      '',
      'Overview',
      overviewPage(context, view, series, range, CHART_RANGES[range], Object.keys(CHART_RANGES), query),
    );
  }

  @Get('dead-letters')
  @Header('Content-Type', HTML)
  async deadLetterList(
    @Req() request: ConsoleRequest,
    @Principal() principal: ConsolePrincipal,
    @Query() query: Record<string, unknown>,
  ): Promise<string> {
    const context = this.context(request, principal);
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
  async deadLetterDetail(
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
    const context = this.context(request, principal);
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

  @Get('outbox')
  @Header('Content-Type', HTML)
  async outboxPage(
    @Req() request: ConsoleRequest,
    @Principal() principal: ConsolePrincipal,
    @Query() query: Record<string, unknown>,
  ): Promise<string> {
    const base = this.base(request);
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
          rowTable.order,
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
        rowTable,
        serviceTable,
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
    const table = sortableTable({
      id: 'half-messages',
      spec: HALF_MESSAGE_SORT,
      base: this.base(request),
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
        error,
        table,
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
    const context = this.context(request, principal);
    const table = sortableTable({ id: 'audit', spec: AUDIT_SORT, base: context.base, path: 'audit', query });
    const parsed = parsePageQuery(AuditQueryDto, query);
    const { limit = 100, offset = 0, sort: _sort, dir: _dir, ...filter } = parsed.value;
    const page = parsed.error
      ? { total: 0, items: [] }
      : this.audit.query({ ...filter, limit, offset, order: table.order });
    return layout(
      context,
      'audit',
      'Audit log',
      auditPage(context, parsed.raw, page, limit, offset, parsed.error, table),
    );
  }

  @Get('admin')
  @RequireRole('admin')
  @Header('Content-Type', HTML)
  adminPage(
    @Req() request: ConsoleRequest,
    @Principal() principal: ConsolePrincipal,
    @Query() query: Record<string, unknown>,
  ): string {
    const context = this.context(request, principal);
    return layout(
      context,
      'admin',
      'Admin',
      adminPage(
        context,
        {
          users: this.users.list(),
          settings: this.settings.get(),
          maxRate: this.options.retry.maxRatePerSec,
          consumers: this.catalog.list(),
          jobs: this.jobs.list(),
        },
        query,
      ),
    );
  }

  private base(request: ConsoleRequest): string {
    return mountBase(request, this.mount);
  }

  /** The login form's pre-session token; sets its cookie when the browser has none yet. */
  private preSessionToken(request: ConsoleRequest, response: ConsoleResponse): string {
    const { token, setCookie } = preSessionToken(
      request,
      `${this.base(request)}/login`,
      this.auth.secureCookies(request),
    );
    if (setCookie) appendSetCookie(response, setCookie);
    return token;
  }

  private context(request: ConsoleRequest, principal: ConsolePrincipal): PageContext {
    const broker = this.options.broker;
    return {
      base: this.base(request),
      principal,
      brokerLabel: broker.label ?? broker.transport.kind,
      now: this.options.now(),
      bundle: this.assets.bundle,
    };
  }
}

const SERVICE_SORT_PARAMS = sortParams('service');

/**
 * A list URL to return to after a detail page: a path of this console's list (with its query), never another
 * page, another site or something to run. Anything else gives null, and the page links the plain list.
 */
export function safeListUrl(base: string, list: string, value: unknown): string | null {
  if (typeof value !== 'string' || value.length > 2000) return null;
  const path = `${base}/${list}`;
  if (value !== path && !value.startsWith(`${path}?`)) return null;
  if (value.includes('//') || value.includes('\\') || [...value].some((char) => char < ' ' || char === '\x7f')) {
    return null;
  }
  return value;
}

/** Where to go after logging in: only a path under the console, never another site. */
function safeNext(base: string, next: unknown): string {
  if (typeof next !== 'string' || next.length > 2000) return base;
  if (next !== base && !next.startsWith(`${base}/`) && !next.startsWith(`${base}?`)) return base;
  if (next.includes('//') || next.includes('\\') || next.startsWith(`${base}/login`)) return base;
  return next;
}
