import { Controller, Get, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { ConsoleApi } from '../http/console-api.decorators';
import { AuditLog, type AuditEntry } from './audit-log.service';
import { AuditQueryDto } from './audit-query.dto';

@ApiTags('audit')
@ConsoleApi()
@Controller('api/audit')
export class AuditController {
  constructor(private readonly audit: AuditLog) {}

  @Get()
  @ApiOperation({ summary: 'Every action, newest first: who, when, what, how many and why.' })
  list(@Query() query: AuditQueryDto): { total: number; items: AuditEntry[] } {
    const { limit = 100, offset = 0, ...filter } = query;
    return this.audit.query({ ...filter, limit, offset });
  }
}
