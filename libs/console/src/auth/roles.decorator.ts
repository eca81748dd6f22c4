import { SetMetadata, createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { PERMISSION_METADATA, PUBLIC_METADATA, ROLES_METADATA } from '../console.constants';
import type { ConsolePermission, ConsoleRole } from '../console-options.interface';
import type { ConsolePrincipal, ConsoleRequest } from '../http/console-request';

/** The least role a route needs; `viewer` when absent. Roles are ordered: viewer < operator < admin. */
export const RequireRole = (role: ConsoleRole): MethodDecorator & ClassDecorator => SetMetadata(ROLES_METADATA, role);

/** A right the route needs beside its role, e.g. `reveal`; no role implies one. */
export const RequirePermission = (permission: ConsolePermission): MethodDecorator =>
  SetMetadata(PERMISSION_METADATA, permission);

export function hasPermission(principal: ConsolePrincipal, permission: ConsolePermission): boolean {
  return principal.permissions?.includes(permission) === true;
}

/** Routes anyone may call: the login page and form, and the static assets (which hold no data). */
export const PublicRoute = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC_METADATA, true);

export const ROLE_RANK: Record<ConsoleRole, number> = { viewer: 0, operator: 1, admin: 2 };

export function hasRole(principal: ConsolePrincipal, needed: ConsoleRole): boolean {
  return ROLE_RANK[principal.role] >= ROLE_RANK[needed];
}

/** The caller, as the auth guard established it. */
export const Principal = createParamDecorator((_data: unknown, context: ExecutionContext): ConsolePrincipal => {
  const principal = context.switchToHttp().getRequest<ConsoleRequest>().consolePrincipal;
  if (!principal) throw new Error('Principal read on a route without the console auth guard.');
  return principal;
});
