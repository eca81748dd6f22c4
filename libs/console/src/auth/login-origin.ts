import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readCookie, type ConsoleRequest } from '../http/console-request';

/** The login form's pre-session token cookie, scoped to the login path. */
export const PRE_SESSION_COOKIE = 'rmq_console_login';
/** The form field that echoes it. */
export const PRE_SESSION_FIELD = 'loginToken';
const PRE_SESSION_MAX_AGE_SECONDS = 12 * 3600;

/**
 * Why a login request must not be taken as the user's own, or null when it may. Login CSRF (a page elsewhere
 * logging the browser into the attacker's account, so that what the victim then does lands there) needs no
 * session, so the session's CSRF token cannot stop it; this does:
 * 1. `Sec-Fetch-Site`, which browsers set and pages cannot forge, must be `same-origin` (or `none`: typed by the
 *    user);
 * 2. else an `Origin`, which browsers send on every cross-origin POST, must name this host;
 * 3. else (a client that sends neither) the login form must echo the pre-session token its page set as a
 *    SameSite=Strict cookie, which no other site can read or make the browser send. The JSON API needs no token:
 *    a cross-site page cannot send a JSON body without the browser asking first, and the console never agrees.
 */
export function crossSiteLoginProblem(request: ConsoleRequest, form: boolean, formToken: unknown): string | null {
  const site = header(request, 'sec-fetch-site');
  if (site !== undefined) {
    return site === 'same-origin' || site === 'none'
      ? null
      : `Logins are taken only from this console's own login page; this one came from a ${site} page.`;
  }
  const origin = header(request, 'origin');
  if (origin !== undefined) {
    return originMatchesHost(request, origin)
      ? null
      : `Logins are taken only from this console's own login page; this one came from ${origin.slice(0, 200)}.`;
  }
  if (!form) return null;
  const cookie = readCookie(request, PRE_SESSION_COOKIE);
  if (cookie !== undefined && typeof formToken === 'string' && sameText(cookie, formToken)) return null;
  return 'The login form has expired or was not loaded from this console; load the login page again.';
}

/** The pre-session token for the login form: the browser's current one, or a new one (then `setCookie` is set). */
export function preSessionToken(
  request: ConsoleRequest,
  loginPath: string,
  secure: boolean,
): {
  token: string;
  setCookie: string | null;
} {
  const current = readCookie(request, PRE_SESSION_COOKIE);
  if (current !== undefined && current.length >= 32) return { token: current, setCookie: null };
  const token = randomBytes(32).toString('base64url');
  const cookie = [
    `${PRE_SESSION_COOKIE}=${token}`,
    `Path=${loginPath}`,
    `Max-Age=${PRE_SESSION_MAX_AGE_SECONDS}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(secure ? ['Secure'] : []),
  ].join('; ');
  return { token, setCookie: cookie };
}

function originMatchesHost(request: ConsoleRequest, origin: string): boolean {
  let host: string;
  try {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
    host = url.host.toLowerCase();
  } catch {
    // `null` (sandboxed frames, data: pages) and anything unparsable.
    return false;
  }
  // Behind a proxy the Host header may be the proxy's upstream name; the name the browser used is forwarded.
  // Neither header can be set by a cross-site form, and a cross-site script cannot send them without a preflight.
  const forwarded = header(request, 'x-forwarded-host')?.split(',')[0]?.trim().toLowerCase();
  const own = header(request, 'host')?.toLowerCase();
  return host === own || (forwarded !== undefined && host === forwarded);
}

function header(request: ConsoleRequest, name: string): string | undefined {
  const value = request.headers[name];
  return typeof value === 'string' ? value : Array.isArray(value) ? value[0] : undefined;
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8');
  const right = Buffer.from(b, 'utf8');
  return left.length === right.length && timingSafeEqual(left, right);
}
