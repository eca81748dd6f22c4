import { Injectable, type NestMiddleware } from '@nestjs/common';
import type { ConsoleRequest, ConsoleResponse } from './console-request';

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

@Injectable()
export class SecurityHeadersMiddleware implements NestMiddleware {
  use(_request: ConsoleRequest, response: ConsoleResponse, next: () => void): void {
    response.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    response.setHeader('X-Frame-Options', 'DENY');
    response.setHeader('X-Content-Type-Options', 'nosniff');
    response.setHeader('Referrer-Policy', 'no-referrer');
    response.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    response.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    // Pages and API answers hold message contents: keep them out of shared and back-forward caches.
    response.setHeader('Cache-Control', 'no-store');
    response.removeHeader('X-Powered-By');
    next();
  }
}
