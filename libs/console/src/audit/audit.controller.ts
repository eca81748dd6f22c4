import { Controller, Get, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { ConsoleApi } from '../http/console-api.decorators';
import { AuditLog, type AuditEntry } from './audit-log.service';
import { parseSort } from '../http/sort';
import { AUDIT_SORT, AuditQueryDto } from './audit-query.dto';

@ApiTags('audit')
@ConsoleApi()
@Controller('api/audit')
export class AuditController {
  constructor(private readonly audit: AuditLog) {}

  @Get()
  @ApiOperation({
    summary: 'Every action, newest first unless sort/dir say otherwise: who, when, what, how many and why.',
  })
  list(@Query() query: AuditQueryDto): { total: number; items: AuditEntry[] } {
    const { limit = 100, offset = 0, sort, dir, ...filter } = query;
    return this.audit.query({ ...filter, limit, offset, order: parseSort(AUDIT_SORT, { sort, dir }) });
  }
}
