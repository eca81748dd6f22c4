import type { ServerResponse } from 'node:http';
import type { ConsoleRequest } from './console-request';

/**
 * No inline script or style anywhere, nothing loaded from elsewhere, never framed. The pages are built so that
 * this policy costs nothing: scripts and styles are files under `<mount>/assets`, charts are inline SVG elements.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export function setSecurityHeaders(response: ServerResponse): void {
  response.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  response.setHeader('X-Frame-Options', 'DENY');
  response.setHeader('X-Content-Type-Options', 'nosniff');
  response.setHeader('Referrer-Policy', 'no-referrer');
  response.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
  response.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
  // Pages and API answers hold message contents: keep them out of shared and back-forward caches.
  response.setHeader('Cache-Control', 'no-store');
  response.removeHeader('X-Powered-By');
}

/**
 * The security headers for every request under the console's mount path, whatever answers it: a page, the API,
 * an unknown path (404), or an error raised before any route is chosen, such as a malformed URL (400). It runs
 * ahead of the router, so it sees requests no route or route middleware would; every other path of the host app
 * passes untouched. `base` gives the mount path with the host's global prefix, read per request because the host
 * may set its prefix after the module is configured.
 */
export function securityHeadersFor(
  base: () => string,
): (request: ConsoleRequest, response: ServerResponse, next: () => void) => void {
  return (request, response, next) => {
    const path = (request.url ?? '').split('?')[0]!.toLowerCase();
    const mount = base().toLowerCase();
    if (path === mount || path.startsWith(`${mount}/`)) setSecurityHeaders(response);
    next();
  };
}
