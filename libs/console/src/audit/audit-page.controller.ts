import { Get, Header, Query, Req } from '@nestjs/common';
import { Principal } from '../auth/roles.decorator';
import type { ConsolePrincipal, ConsoleRequest } from '../http/console-request';
import { ConsolePages, HTML } from '../pages/console-pages.decorator';
import { layout } from '../pages/layout';
import { PageContexts } from '../pages/page-contexts.service';
import { parsePageQuery } from '../pages/page-query';
import { sortableTable } from '../pages/sortable-table';
import { AuditLog } from './audit-log.service';
import { auditPage } from './audit.page';
import { AUDIT_SORT, AuditQueryDto } from './audit-query.dto';

/** The audit log page; the same entries as api/audit. */
@ConsolePages()
export class AuditPageController {
  constructor(
    private readonly contexts: PageContexts,
    private readonly audit: AuditLog,
  ) {}

  @Get('audit')
  @Header('Content-Type', HTML)
  page(
    @Req() request: ConsoleRequest,
    @Principal() principal: ConsolePrincipal,
    @Query() query: Record<string, unknown>,
  ): string {
    const context = this.contexts.of(request, principal);
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
}
