import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, TOKEN, bundleFiles, startConsoleKit, type ConsoleKit, type Session } from './console-test-kit';

const PAGES = [
  '',
  '/dead-letters',
  '/dead-letters/1',
  '/outbox',
  '/outbox?service=orders',
  '/transactions',
  '/audit',
  '/admin',
];
const UUID = '00000000-0000-7000-8000-000000000000';

/** Every API operation of the OpenAPI document, with sample path parameters filled in. */
async function apiOperations(kit: ConsoleKit, session: Session): Promise<Array<{ method: string; path: string }>> {
  const doc = await kit.call<{ paths: Record<string, Record<string, unknown>> }>('GET', '/api/openapi.json', {
    session,
  });
  expect(doc.status).toBe(200);
  const operations: Array<{ method: string; path: string }> = [];
  for (const [path, methods] of Object.entries(doc.body.paths)) {
    for (const method of Object.keys(methods)) {
      const concrete = path
        .replace(/^\/console/, '')
        .replace('{id}', path.includes('/jobs/') || path.includes('/rows/') || path.includes('/moves/') ? UUID : '1')
        .replace('{service}', 'orders')
        .replace('{username}', 'someone')
        // The one read whose query is required.
        .replace(/\/api\/backlog\/reset-preview$/, '/api/backlog/reset-preview?group=g&topic=orders&at=0');
      operations.push({ method: method.toUpperCase(), path: concrete });
    }
  }
  operations.push({ method: 'GET', path: '/api/openapi.json' });
  return operations;
}

describe('console authentication and authorisation', () => {
  let kit: ConsoleKit;
  let admin: Session;
  let operator: Session;
  let viewer: Session;
  let operations: Array<{ method: string; path: string }>;

  beforeAll(async () => {
    kit = await startConsoleKit();
    await kit.deadLetter({});
    admin = await kit.login('admin');
    operator = await kit.login('operator');
    viewer = await kit.login('viewer');
    operations = await apiOperations(kit, admin);
  });
  afterAll(async () => kit?.close());

  it('documents every API route in OpenAPI (so the checks below cover them all)', () => {
    const paths = new Set(operations.map((operation) => `${operation.method} ${operation.path}`));
    for (const expected of [
      'GET /api/overview',
      'GET /api/dead-letters',
      'GET /api/dead-letters/1',
      'POST /api/dead-letters/1/retry',
      'POST /api/dead-letters/retry',
      'POST /api/dead-letters/discard',
      'GET /api/outbox',
      'POST /api/outbox/orders/requeue',
      'GET /api/transactions',
      'POST /api/transactions/commit',
      'GET /api/audit',
      'GET /api/jobs',
      'PUT /api/admin/settings',
    ]) {
      expect(paths, expected).toContain(expected);
    }
    expect(operations.length).toBeGreaterThanOrEqual(27);
  });

  it('answers 401 on every API route without a session, except login', async () => {
    for (const { method, path } of operations) {
      if (path === '/api/auth/login') continue;
      const answer = await kit.call(method, path, { body: method === 'GET' || method === 'DELETE' ? undefined : {} });
      expect(answer.status, `${method} ${path}`).toBe(401);
    }
  });

  it('answers 401 with a forged cookie, a logged-out session or a wrong bearer token', async () => {
    const forged = await kit.call('GET', '/api/overview', { headers: { cookie: 'rmq_console_session=not-a-session' } });
    expect(forged.status).toBe(401);
    const wrongToken = await kit.call('GET', '/api/overview', { headers: { authorization: 'Bearer nope' } });
    expect(wrongToken.status).toBe(401);
    const session = await kit.login('viewer');
    expect((await kit.call('POST', '/api/auth/logout', { session })).status).toBe(200);
    expect((await kit.call('GET', '/api/overview', { session })).status).toBe(401);
  });

  it('sends every page to the login form without a session, and serves the login form itself', async () => {
    for (const page of PAGES) {
      const answer = await kit.call('GET', page);
      expect(answer.status, page).toBe(303);
      const [path] = page.split('?');
      expect(answer.headers.get('location'), page).toBe(`/console/login?next=${encodeURIComponent(`/console${page}`)}`);
      expect(path).toBeDefined();
    }
    const login = await kit.call('GET', '/login');
    expect(login.status).toBe(200);
    expect(login.text).toContain('<form method="post" action="/console/login"');
  });

  it('logs in with the form, sets a safe cookie, and goes only to console paths afterwards', async () => {
    const form = new URLSearchParams({ username: 'viewer', password: PASSWORD, next: '/console/audit' });
    const answer = await kit.call('POST', '/login', {
      raw: form.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: kit.origin },
    });
    expect(answer.status).toBe(303);
    expect(answer.headers.get('location')).toBe('/console/audit');
    const cookie = answer.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^rmq_console_session=[A-Za-z0-9_-]{43}; /);
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect(cookie).toContain('Path=/console');
    expect(cookie).toMatch(/Max-Age=28800/);

    const elsewhere = new URLSearchParams({ username: 'viewer', password: PASSWORD, next: 'https://evil.example/x' });
    const redirected = await kit.call('POST', '/login', {
      raw: elsewhere.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: kit.origin },
    });
    expect(redirected.headers.get('location')).toBe('/console');
    const protocolRelative = new URLSearchParams({
      username: 'viewer',
      password: PASSWORD,
      next: '/console//evil.example',
    });
    const again = await kit.call('POST', '/login', {
      raw: protocolRelative.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: kit.origin },
    });
    expect(again.headers.get('location')).toBe('/console');
  });

  it('refuses a wrong password with 401 and audits it; secrets never appear in URLs or the audit log', async () => {
    const wrong = await kit.call('POST', '/api/auth/login', {
      body: { username: 'viewer', password: 'wrong password' },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    const audit = await kit.call<{
      items: Array<{ action: string; outcome: string; actor: string; details: unknown }>;
    }>('GET', '/api/audit?action=auth.login', { session: admin });
    expect(audit.body.items.some((entry) => entry.actor === 'viewer' && entry.outcome === 'failed')).toBe(true);
    expect(JSON.stringify(audit.body)).not.toContain('wrong password');
    expect(JSON.stringify(audit.body)).not.toContain(PASSWORD);
    const page = await kit.call('GET', '', { session: viewer });
    expect(page.text).not.toMatch(/[?&](token|session|password|csrf)=/i);
  });

  it('rate-limits failed logins per user and address, even with the right password afterwards, with Retry-After', async () => {
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      statuses.push(
        (await kit.call('POST', '/api/auth/login', { body: { username: 'operator', password: `guess ${attempt}` } }))
          .status,
      );
    }
    expect(statuses).toEqual(Array(5).fill(401));
    const blocked = await kit.call('POST', '/api/auth/login', { body: { username: 'operator', password: PASSWORD } });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    // Another user from the same address is not locked out until the address reaches its own, larger limit.
    expect(
      (await kit.call('POST', '/api/auth/login', { body: { username: 'admin', password: PASSWORD } })).status,
    ).toBe(200);
    // The window passes (console clock): the user may log in again.
    kit.clock.advance(5 * 60_000 + 1000);
    expect(
      (await kit.call('POST', '/api/auth/login', { body: { username: 'operator', password: PASSWORD } })).status,
    ).toBe(200);
  });

  it('rate-limits failed logins per address, across usernames, except for users who logged in from it before', async () => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const answer = await kit.call('POST', '/api/auth/login', {
        body: { username: `guess-${attempt}`, password: 'x' },
      });
      expect(answer.status).toBe(401);
    }
    const blocked = await kit.call('POST', '/api/auth/login', { body: { username: 'newcomer', password: 'x' } });
    expect(blocked.status).toBe(429);
    // admin has logged in from this address: someone guessing other names behind the same address cannot lock it out.
    expect(
      (await kit.call('POST', '/api/auth/login', { body: { username: 'admin', password: PASSWORD } })).status,
    ).toBe(200);
    kit.clock.advance(5 * 60_000 + 1000);
    expect((await kit.call('POST', '/api/auth/login', { body: { username: 'newcomer', password: 'x' } })).status).toBe(
      401,
    );
  });

  it('ends a session after its idle timeout', async () => {
    const session = await kit.login('viewer');
    expect((await kit.call('GET', '/api/auth/me', { session })).status).toBe(200);
    kit.clock.advance(3_600_000 + 1000);
    expect((await kit.call('GET', '/api/auth/me', { session })).status).toBe(401);
    admin = await kit.login('admin');
    operator = await kit.login('operator');
    viewer = await kit.login('viewer');
  });

  it('applies the role matrix: viewers read, operators act, admins administer (403 otherwise)', async () => {
    const actions: Array<[string, string, unknown, 'operator' | 'admin']> = [
      ['POST', '/api/dead-letters/1/retry', {}, 'operator'],
      ['POST', '/api/dead-letters/retry', { ids: [1] }, 'operator'],
      ['POST', '/api/dead-letters/discard', { ids: [1], reason: 'x' }, 'operator'],
      ['POST', '/api/dead-letters/1/discard', { reason: 'x' }, 'operator'],
      ['POST', `/api/jobs/${UUID}/cancel`, {}, 'operator'],
      ['POST', '/api/outbox/orders/requeue', { ids: [UUID] }, 'operator'],
      ['POST', '/api/outbox/orders/discard', { ids: [UUID], reason: 'x' }, 'operator'],
      ['POST', '/api/transactions/commit', { txIds: ['t'] }, 'operator'],
      ['POST', '/api/transactions/discard', { txIds: ['t'], reason: 'x' }, 'operator'],
      ['GET', '/api/admin/users', undefined, 'admin'],
      ['POST', '/api/admin/users', { username: 'x', password: 'long enough password', role: 'viewer' }, 'admin'],
      ['PATCH', '/api/admin/users/x', { role: 'viewer' }, 'admin'],
      ['DELETE', '/api/admin/users/x', undefined, 'admin'],
      ['GET', '/api/admin/settings', undefined, 'admin'],
      ['PUT', '/api/admin/settings', { stuckAfterMs: 60_000 }, 'admin'],
      ['POST', '/api/backlog/expand', { topic: 'orders', queueCount: 1, reason: 'x' }, 'admin'],
      ['POST', '/api/backlog/redistribute', { group: 'g', fromTopic: 'orders', toTopic: 'o', reason: 'x' }, 'admin'],
      ['POST', '/api/backlog/reset', { group: 'g', topic: 'orders', at: 0, reason: 'x' }, 'admin'],
    ];
    for (const [method, path, body, needed] of actions) {
      const asViewer = await kit.call(method, path, { session: viewer, body });
      expect(asViewer.status, `viewer ${method} ${path}`).toBe(403);
      const asOperator = await kit.call(method, path, { session: operator, body });
      if (needed === 'admin') expect(asOperator.status, `operator ${method} ${path}`).toBe(403);
      else expect(asOperator.status, `operator ${method} ${path}`).not.toBe(403);
    }
    const asAdmin = await kit.call('GET', '/api/admin/users', { session: admin });
    expect(asAdmin.status).toBe(200);
    for (const { method, path } of operations.filter(
      (operation) => operation.method === 'GET' && !operation.path.includes('/admin/'),
    )) {
      const answer = await kit.call(method, path, { session: viewer });
      expect([200, 404], `viewer ${method} ${path}`).toContain(answer.status);
    }
    const adminPage = await kit.call('GET', '/admin', { session: viewer });
    expect(adminPage.status).toBe(403);
    expect(adminPage.text).toContain('This needs the admin role');
  });

  it('refuses state-changing calls without the CSRF token of the session (403), and with another session’s token', async () => {
    const changing = operations.filter(
      (operation) => operation.method !== 'GET' && operation.path !== '/api/auth/login',
    );
    expect(changing.length).toBeGreaterThanOrEqual(14);
    for (const { method, path } of changing) {
      const answer = await kit.call(method, path, {
        session: admin,
        csrf: false,
        body: method === 'DELETE' ? undefined : {},
      });
      expect(answer.status, `${method} ${path}`).toBe(403);
      expect(answer.text).toContain('CSRF');
    }
    const other = await kit.login('admin');
    const crossed = await kit.call('POST', '/api/dead-letters/1/discard', {
      session: { cookie: admin.cookie, csrf: other.csrf },
      body: { reason: 'x' },
    });
    expect(crossed.status).toBe(403);
  });

  it('lets scripts use a bearer token with its role, without CSRF', async () => {
    const me = await kit.call<{ name: string; role: string }>('GET', '/api/auth/me', {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(me.body).toMatchObject({ name: 'token:ci', role: 'operator' });
    const id = await kit.deadLetter({});
    const retried = await kit.call('POST', `/api/dead-letters/${id}/retry`, {
      headers: { authorization: `Bearer ${TOKEN}` },
      body: {},
    });
    expect(retried.status).toBe(200);
    const admin403 = await kit.call('GET', '/api/admin/users', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(admin403.status).toBe(403);
  });

  it('answers 413 to oversized bodies, 400 to malformed JSON and 415 to other content types', async () => {
    const big = JSON.stringify({ reason: 'x'.repeat(1024 * 1024 + 10) });
    const tooLarge = await kit.call('POST', '/api/dead-letters/1/discard', {
      session: operator,
      raw: big,
      headers: { 'content-type': 'application/json' },
    });
    expect(tooLarge.status).toBe(413);
    const loginTooLarge = await kit.call('POST', '/api/auth/login', {
      raw: big,
      headers: { 'content-type': 'application/json' },
    });
    expect(loginTooLarge.status).toBe(413);
    // No declared length (chunked): the limit is counted while reading.
    const chunked = await fetch(`${kit.url}/api/dead-letters/1/discard`, {
      method: 'POST',
      headers: { cookie: operator.cookie, 'x-csrf-token': operator.csrf, 'content-type': 'application/json' },
      body: new ReadableStream({
        start(controller) {
          for (let index = 0; index < 20; index++) controller.enqueue(new TextEncoder().encode('x'.repeat(64 * 1024)));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    const malformed = await kit.call('POST', '/api/dead-letters/1/discard', {
      session: operator,
      raw: '{"reason":',
      headers: { 'content-type': 'application/json' },
    });
    expect(malformed.status).toBe(400);
    const wrongType = await kit.call('POST', '/api/dead-letters/1/discard', {
      session: operator,
      raw: 'reason=x',
      headers: { 'content-type': 'text/plain' },
    });
    expect(wrongType.status).toBe(415);
  });

  it('sends a strict CSP and framing ban on pages and API answers, with no inline script or style in any page', async () => {
    for (const page of PAGES) {
      const answer = await kit.call('GET', page, { session: admin });
      expect(answer.status, page).toBeLessThan(500);
      const csp = answer.headers.get('content-security-policy')!;
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('unsafe-eval');
      expect(answer.headers.get('x-frame-options')).toBe('DENY');
      expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
      expect(answer.headers.get('cache-control')).toBe('no-store');
      // Only the bundle's module script and JSON data islands, which browsers never run.
      expect(answer.text, page).not.toMatch(/<script(?![^>]*\ssrc=)(?![^>]*\stype="application\/json")[^>]*>/i);
      expect(answer.text, page).not.toMatch(/\sstyle=/i);
      expect(answer.text, page).not.toMatch(/\son[a-z]+=/i);
    }
    const api = await kit.call('GET', '/api/overview', { session: admin });
    expect(api.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    // The bundle's files, by hashed name, without a login and cached for good; nothing else is served.
    const { script: scriptName, style: styleName } = bundleFiles();
    const script = await kit.call('GET', `/assets/${scriptName}`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toContain('text/javascript');
    expect(script.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(script.headers.get('content-security-policy')).toContain("default-src 'none'");
    const style = await kit.call('GET', `/assets/${styleName}`);
    expect(style.status).toBe(200);
    expect(style.headers.get('content-type')).toContain('text/css');
    for (const path of [
      '/assets/console.js',
      '/assets/..%2Fconsole.module.ts',
      '/assets/..%2F.vite%2Fmanifest.json',
      '/assets/manifest.json',
    ]) {
      expect((await kit.call('GET', path)).status, path).toBe(404);
    }
  });
});
