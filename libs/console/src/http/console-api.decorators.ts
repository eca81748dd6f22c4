import {
  BadRequestException,
  Injectable,
  UseGuards,
  UsePipes,
  ValidationPipe,
  applyDecorators,
  type ArgumentMetadata,
  type PipeTransform,
} from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCookieAuth,
  ApiForbiddenResponse,
  ApiSecurity,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { ConsoleAuthGuard } from '../auth/console-auth.guard';
import { CSRF_HEADER, SESSION_COOKIE } from '../console.constants';

/**
 * What every console API controller carries: the auth guard (on the controller, never global), strict request
 * validation (unknown fields are refused, query strings converted), and the OpenAPI security notes.
 */
export function ConsoleApi(): ClassDecorator {
  return applyDecorators(
    UseGuards(ConsoleAuthGuard),
    UsePipes(
      new ConsoleValidationPipe({
        whitelist: true,
        forbidNonWhitelisted: true,
        transform: true,
        forbidUnknownValues: true,
        stopAtFirstError: false,
      }),
    ),
    ApiCookieAuth(SESSION_COOKIE),
    ApiBearerAuth(),
    ApiSecurity(CSRF_HEADER),
    ApiUnauthorizedResponse({ description: 'No valid session or token.' }),
    ApiForbiddenResponse({ description: 'Role too low, or a state-changing request without the CSRF token.' }),
  );
}

/**
 * Validates bodies and queries only. Path parameters are left to their own pipes: the ValidationPipe would turn
 * `01`, `1e3` or `0x10` into numbers before those pipes could refuse them.
 */
class ConsoleValidationPipe extends ValidationPipe {
  override transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'param') return Promise.resolve(value);
    return super.transform(value, metadata) as Promise<unknown>;
  }
}

/** A positive integer id in a path; anything else (including numbers past 2^53) is a 400. */
@Injectable()
export class ParseIdPipe implements PipeTransform<string, number> {
  transform(value: string): number {
    // Up to 2^53 - 1: transports number dead letters differently (the RabbitMQ one uses large ids).
    if (typeof value !== 'string' || !/^[1-9]\d{0,15}$/.test(value) || !Number.isSafeInteger(Number(value))) {
      throw new BadRequestException(
        `Expected a positive integer id; got ${JSON.stringify(String(value).slice(0, 40))}.`,
      );
    }
    return Number(value);
  }
}
