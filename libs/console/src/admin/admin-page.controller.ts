import { Get, Header, Inject, Query, Req } from '@nestjs/common';
import { UserDirectory } from '../auth/user-directory.service';
import { Principal, RequireRole } from '../auth/roles.decorator';
import { CONSOLE_OPTIONS } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import type { ConsolePrincipal, ConsoleRequest } from '../http/console-request';
import { RetryJobService } from '../jobs/retry-job.service';
import { ConsolePages, HTML } from '../pages/console-pages.decorator';
import { layout } from '../pages/layout';
import { PageContexts } from '../pages/page-contexts.service';
import { ConsoleSettingsService } from '../settings/console-settings.service';
import { ConsumerCatalog } from '../sources/consumer-catalog.service';
import { adminPage } from './admin.page';

/** The admin page (admins only); its changes go through api/admin. */
@ConsolePages()
export class AdminPageController {
  constructor(
    @Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions,
    private readonly contexts: PageContexts,
    private readonly users: UserDirectory,
    private readonly settings: ConsoleSettingsService,
    private readonly catalog: ConsumerCatalog,
    private readonly jobs: RetryJobService,
  ) {}

  @Get('admin')
  @RequireRole('admin')
  @Header('Content-Type', HTML)
  page(
    @Req() request: ConsoleRequest,
    @Principal() principal: ConsolePrincipal,
    @Query() query: Record<string, unknown>,
  ): string {
    const context = this.contexts.of(request, principal);
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
}
