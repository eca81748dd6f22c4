import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, startConsoleKit, type ConsoleKit } from './console-test-kit';

const FORM = 'application/x-www-form-urlencoded';

/**
 * Login CSRF: a page elsewhere must not be able to log a browser into the attacker's account. Each request below
 * is what a browser sends for such a page (its Origin, Sec-Fetch-Site, content type); none may set a session.
 */
describe('login cannot be forged from another site', () => {
  let kit: ConsoleKit;

  beforeAll(async () => {
    kit = await startConsoleKit();
  });
  afterAll(async () => kit?.close());

  const formBody = (extra: Record<string, string> = {}): string =>
    new URLSearchParams({ username: 'viewer', password: PASSWORD, next: '/console', ...extra }).toString();

  const sessionCookieOf = (headers: Headers): string | undefined =>
    headers.getSetCookie().find((cookie) => cookie.startsWith('rmq_console_session=') && !/Max-Age=0/.test(cookie));

  it('refuses the login form posted from another origin or site, and from a sandboxed page', async () => {
    const attempts: Array<[string, Record<string, string>]> = [
      ['another origin', { origin: 'https://evil.example' }],
      ['a sibling port', { origin: kit.origin.replace(/:(\d+)$/, (_, port) => `:${Number(port) + 1}`) }],
      ['a sandboxed page', { origin: 'null' }],
      ['a cross-site page', { 'sec-fetch-site': 'cross-site', origin: kit.origin }],
      ['a same-site page', { 'sec-fetch-site': 'same-site' }],
    ];
    for (const [what, headers] of attempts) {
      const answer = await kit.call('POST', '/login', {
        raw: formBody(),
        headers: { 'content-type': FORM, ...headers },
      });
      expect(answer.status, what).toBe(403);
      expect(answer.text, what).toContain('Logins are taken only from this console');
      expect(sessionCookieOf(answer.headers), what).toBeUndefined();
    }
  });

  it('takes the login form from its own page: same origin, or the pre-session token for clients that send neither header', async () => {
    const sameOrigin = await kit.call('POST', '/login', {
      raw: formBody(),
      headers: { 'content-type': FORM, origin: kit.origin, 'sec-fetch-site': 'same-origin' },
    });
    expect(sameOrigin.status).toBe(303);
    expect(sessionCookieOf(sameOrigin.headers)).toBeDefined();

    // Neither header and no token: refused.
    const bare = await kit.call('POST', '/login', { raw: formBody(), headers: { 'content-type': FORM } });
    expect(bare.status).toBe(403);
    expect(bare.text).toContain('load the login page again');
    expect(sessionCookieOf(bare.headers)).toBeUndefined();

    // The login page sets a SameSite=Strict cookie and puts the same token in the form.
    const page = await kit.call('GET', '/login');
    const cookie = page.headers.getSetCookie().find((value) => value.startsWith('rmq_console_login='))!;
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect(cookie).toContain('Path=/console/login');
    const token = /name="loginToken" value="([^"]+)"/.exec(page.text)![1]!;
    const pair = cookie.split(';')[0]!;
    expect(pair).toBe(`rmq_console_login=${token}`);
    const wrongToken = await kit.call('POST', '/login', {
      raw: formBody({ loginToken: `${token.slice(0, -2)}xx` }),
      headers: { 'content-type': FORM, cookie: pair },
    });
    expect(wrongToken.status).toBe(403);
    const tokenWithoutCookie = await kit.call('POST', '/login', {
      raw: formBody({ loginToken: token }),
      headers: { 'content-type': FORM },
    });
    expect(tokenWithoutCookie.status).toBe(403);
    const withToken = await kit.call('POST', '/login', {
      raw: formBody({ loginToken: token }),
      headers: { 'content-type': FORM, cookie: pair },
    });
    expect(withToken.status).toBe(303);
    expect(sessionCookieOf(withToken.headers)).toBeDefined();
  });

  it('takes JSON only on the login API (415 for what a cross-site form or no-cors fetch can send)', async () => {
    const body = JSON.stringify({ username: 'viewer', password: PASSWORD });
    for (const [type, raw] of [
      [FORM, formBody()],
      ['text/plain', body],
      [
        'multipart/form-data; boundary=x',
        `--x\r\nContent-Disposition: form-data; name="username"\r\n\r\nviewer\r\n--x--`,
      ],
      ['text/plain;charset=UTF-8', body],
    ] as const) {
      const answer = await kit.call('POST', '/api/auth/login', { raw, headers: { 'content-type': type } });
      expect(answer.status, type).toBe(415);
      expect(sessionCookieOf(answer.headers), type).toBeUndefined();
    }
    // Every other API route is JSON-only as well: a form cannot reach it even with a valid session.
    const session = await kit.login('operator');
    const form = await kit.call('POST', '/api/dead-letters/1/discard', {
      raw: 'reason=x',
      headers: { 'content-type': FORM, cookie: session.cookie, 'x-csrf-token': session.csrf },
    });
    expect(form.status).toBe(415);
  });

  it('refuses a JSON login from a page of another origin, takes it from scripts and the console itself', async () => {
    const body = { username: 'viewer', password: PASSWORD };
    const foreign = await kit.call('POST', '/api/auth/login', { body, headers: { origin: 'https://evil.example' } });
    expect(foreign.status).toBe(403);
    expect(sessionCookieOf(foreign.headers)).toBeUndefined();
    const crossSite = await kit.call('POST', '/api/auth/login', { body, headers: { 'sec-fetch-site': 'cross-site' } });
    expect(crossSite.status).toBe(403);
    expect((await kit.call('POST', '/api/auth/login', { body })).status).toBe(200);
    const own = await kit.call('POST', '/api/auth/login', {
      body,
      headers: { origin: kit.origin, 'sec-fetch-site': 'same-origin' },
    });
    expect(own.status).toBe(200);
    // Behind a proxy, the name the browser used arrives as X-Forwarded-Host.
    const proxied = await kit.call('POST', '/api/auth/login', {
      body,
      headers: { origin: 'https://console.example.com', 'x-forwarded-host': 'console.example.com' },
    });
    expect(proxied.status).toBe(200);
  });

  it('audits the refused logins, aggregated', async () => {
    const admin = await kit.login('admin');
    const audit = await kit.call<{ items: Array<{ actor: string; count: number; details: { why: string } }> }>(
      'GET',
      '/api/audit?action=auth.login.refused',
      { session: admin },
    );
    expect(audit.body.items.length).toBeGreaterThan(0);
    expect(audit.body.items.every((entry) => entry.actor === 'viewer')).toBe(true);
    // 5 foreign forms, 3 forms without a valid token, 2 JSON logins from elsewhere, all from one address.
    expect(audit.body.items.reduce((sum, entry) => sum + entry.count, 0)).toBe(10);
  });
});
