import {
  BadRequestException,
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  Patch,
  Post,
  Put,
} from '@nestjs/common';
import { ApiConflictResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { AuditLog } from '../audit/audit-log.service';
import { Principal, RequireRole } from '../auth/roles.decorator';
import { SessionService } from '../auth/session.service';
import { UserDirectory, type ConsoleUserView } from '../auth/user-directory.service';
import { CONSOLE_OPTIONS } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import { ConsoleApi } from '../http/console-api.decorators';
import type { ConsolePrincipal } from '../http/console-request';
import { ConsoleSettingsService, type ConsoleSettings } from '../settings/console-settings.service';
import { CreateUserDto, UpdateSettingsDto, UpdateUserDto } from './admin.dto';

const USERNAME = /^[A-Za-z0-9._-]{1,64}$/;

@ApiTags('admin')
@ConsoleApi()
@RequireRole('admin')
@Controller('api/admin')
export class AdminController {
  constructor(
    @Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions,
    private readonly users: UserDirectory,
    private readonly sessions: SessionService,
    private readonly settings: ConsoleSettingsService,
    private readonly audit: AuditLog,
  ) {}

  @Get('users')
  @ApiOperation({ summary: 'Users: configured ones (read-only here) and those added in the console.' })
  listUsers(): { items: ConsoleUserView[] } {
    return { items: this.users.list() };
  }

  @Post('users')
  @ApiOperation({ summary: 'Add a user; the password is stored hashed.' })
  @ApiConflictResponse({ description: 'The username exists.' })
  async createUser(@Body() body: CreateUserDto, @Principal() principal: ConsolePrincipal): Promise<ConsoleUserView> {
    const user = await this.users.create(body.username, body.password, body.role);
    this.record(principal, 'admin.user.create', `user ${user.username}`, { role: user.role });
    return user;
  }

  @Patch('users/:username')
  @ApiOperation({ summary: "Change a console-added user's role or password; their sessions end." })
  async updateUser(
    @Param('username') username: string,
    @Body() body: UpdateUserDto,
    @Principal() principal: ConsolePrincipal,
  ): Promise<ConsoleUserView> {
    checkUsername(username);
    if (body.role === undefined && body.password === undefined) throw new BadRequestException('Give role or password.');
    const user = await this.users.update(username, body);
    this.sessions.destroyAllOf(username);
    this.record(principal, 'admin.user.update', `user ${username}`, {
      role: body.role,
      passwordChanged: body.password !== undefined,
    });
    return user;
  }

  @Delete('users/:username')
  @HttpCode(200)
  @ApiOperation({ summary: 'Remove a console-added user; their sessions end.' })
  removeUser(@Param('username') username: string, @Principal() principal: ConsolePrincipal): { removed: string } {
    checkUsername(username);
    this.users.remove(username);
    this.sessions.destroyAllOf(username);
    this.record(principal, 'admin.user.delete', `user ${username}`, {});
    return { removed: username };
  }

  @Get('settings')
  @ApiOperation({ summary: 'Settings an admin may change.' })
  getSettings(): ConsoleSettings & { maxRetryRatePerSec: number } {
    return { ...this.settings.get(), maxRetryRatePerSec: this.options.retry.maxRatePerSec };
  }

  @Put('settings')
  @ApiOperation({ summary: 'Change settings.' })
  updateSettings(@Body() body: UpdateSettingsDto, @Principal() principal: ConsolePrincipal): ConsoleSettings {
    if (body.defaultRetryRatePerSec !== undefined && body.defaultRetryRatePerSec > this.options.retry.maxRatePerSec) {
      throw new BadRequestException(
        `defaultRetryRatePerSec must be at most ${this.options.retry.maxRatePerSec} (bulkRetry.maxRatePerSec).`,
      );
    }
    const before = this.settings.get();
    const after = this.settings.update(body);
    this.record(principal, 'admin.settings.update', 'settings', { before, after });
    return after;
  }

  private record(principal: ConsolePrincipal, action: string, target: string, details: Record<string, unknown>): void {
    this.audit.record({
      actor: principal.name,
      role: principal.role,
      action,
      target,
      count: 1,
      outcome: 'ok',
      details,
    });
  }
}

function checkUsername(username: string): void {
  if (!USERNAME.test(username))
    throw new BadRequestException('username must be 1-64 letters, digits, ".", "_" or "-".');
}
