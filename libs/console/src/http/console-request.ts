import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ConsolePermission, ConsoleRole } from '../console-options.interface';

/** Who is calling: a logged-in user (cookie session) or a script with a bearer token. */
export interface ConsolePrincipal {
  /** Username, or `token:<name>`. */
  name: string;
  role: ConsoleRole;
  via: 'session' | 'token';
  /** Rights beside the role, e.g. `reveal`; looked up on every request like the role. */
  permissions?: ConsolePermission[];
  /** For sessions: the CSRF token pages embed and state-changing requests must echo. */
  csrfToken?: string;
}

/** The parts of Express's request the console reads; the console works on the Express adapter. */
export interface ConsoleRequest extends IncomingMessage {
  body?: unknown;
  query: Record<string, unknown>;
  params: Record<string, string>;
  secure?: boolean;
  ip?: string;
  originalUrl?: string;
  /** Set by the body reader once it has read (or refused) the body. */
  consoleBodyRead?: boolean;
  consolePrincipal?: ConsolePrincipal;
  /** The raw session id from the cookie, when there is a valid session. */
  consoleSessionId?: string;
}

export interface ConsoleResponse extends ServerResponse {
  status(code: number): this;
  json(body: unknown): this;
  redirect(status: number, url: string): void;
}

export function clientAddress(request: ConsoleRequest): string {
  return request.ip ?? request.socket?.remoteAddress ?? 'unknown';
}

/** Reads one cookie from the Cookie header; no cookie-parsing dependency is needed for a single name. */
export function readCookie(request: IncomingMessage, name: string): string | undefined {
  const header = request.headers.cookie;
  if (typeof header !== 'string') return undefined;
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index < 0) continue;
    if (part.slice(0, index).trim() === name) {
      const value = part.slice(index + 1).trim();
      return /^[A-Za-z0-9_-]{1,128}$/.test(value) ? value : undefined;
    }
  }
  return undefined;
}

/** Adds a cookie to the answer, keeping any set before (a failed login keeps its pre-session cookie). */
export function appendSetCookie(response: ServerResponse, cookie: string): void {
  const current = response.getHeader('Set-Cookie');
  const list = current === undefined ? [] : Array.isArray(current) ? current : [String(current)];
  response.setHeader('Set-Cookie', [...list, cookie]);
}
