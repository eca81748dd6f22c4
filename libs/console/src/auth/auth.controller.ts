import { Body, Controller, Get, HttpCode, Post, Req, Res } from '@nestjs/common';
import { ApiOperation, ApiTags, ApiTooManyRequestsResponse } from '@nestjs/swagger';
import { ConsoleApi } from '../http/console-api.decorators';
import type { ConsolePrincipal, ConsoleRequest, ConsoleResponse } from '../http/console-request';
import { AuthService } from './auth.service';
import { LoginDto } from './login.dto';
import { Principal, PublicRoute } from './roles.decorator';

@ApiTags('auth')
@ConsoleApi()
@Controller('api/auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

  @Post('login')
  @PublicRoute()
  @HttpCode(200)
  @ApiOperation({
    summary: 'Log in: sets an HttpOnly, SameSite=Strict session cookie and returns the CSRF token to send back.',
  })
  @ApiTooManyRequestsResponse({ description: 'Too many failed logins from this address or for this user.' })
  async login(
    @Body() body: LoginDto,
    @Req() request: ConsoleRequest,
    @Res({ passthrough: true }) response: ConsoleResponse,
  ): Promise<{ name: string; role: string; csrfToken: string; expiresAt: number }> {
    const session = await this.auth.login(body.username, body.password, request, response);
    return { name: session.name, role: session.role, csrfToken: session.csrfToken, expiresAt: session.expiresAt };
  }

  @Post('logout')
  @HttpCode(200)
  @ApiOperation({ summary: 'End the session.' })
  logout(@Req() request: ConsoleRequest, @Res({ passthrough: true }) response: ConsoleResponse): { ok: true } {
    this.auth.logout(request, response);
    return { ok: true };
  }

  @Get('me')
  @ApiOperation({ summary: 'Who is logged in, with which role, and the CSRF token of the session.' })
  me(@Principal() principal: ConsolePrincipal): ConsolePrincipal {
    return principal;
  }
}
