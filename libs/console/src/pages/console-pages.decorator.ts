import { applyDecorators, Controller, UseFilters, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { ConsoleAuthGuard } from '../auth/console-auth.guard';
import { PageExceptionFilter } from './page-exception.filter';

/**
 * A controller of HTML pages: behind login (a missing session redirects to the login form), errors rendered as a
 * page rather than JSON, and left out of the OpenAPI document. Each feature's page controller sits next to its JSON
 * controller and carries this.
 */
export function ConsolePages(): ClassDecorator {
  return applyDecorators(
    ApiExcludeController(),
    UseGuards(ConsoleAuthGuard),
    UseFilters(PageExceptionFilter),
    Controller(),
  );
}

/** The Content-Type of every page. */
export const HTML = 'text/html; charset=utf-8';
