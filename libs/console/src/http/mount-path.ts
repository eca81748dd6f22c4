import type { ConsoleRequest } from './console-request';

/**
 * The URL path the console is served under for this request, e.g. `/console`, or `/api/console` when the host app
 * has a global prefix. Found in the request's own URL, so links and the cookie path follow however the host mounted
 * the module.
 */
export function mountBase(request: ConsoleRequest, mount: string): string {
  const url = (request.originalUrl ?? request.url ?? '/').split('?')[0]!;
  const marker = `/${mount}`;
  let index = url.indexOf(`${marker}/`);
  if (index < 0 && url.endsWith(marker)) index = url.length - marker.length;
  return index < 0 ? marker : url.slice(0, index + marker.length);
}
