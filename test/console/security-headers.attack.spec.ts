import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, startConsoleKit, type ConsoleKit, type Session } from '../../libs/console/test/console-test-kit';
import { header, rawRequest, type RawAnswer } from './console-attack-kit';

const HEADERS = [
  'content-security-policy',
  'x-frame-options',
  'x-content-type-options',
  'referrer-policy',
  'cache-control',
] as const;

/**
 * Every answer under the console's mount path carries the same security headers as its pages: unknown routes of
 * every method, malformed URLs, and every error the console answers, before and after login. Sent with a raw HTTP
 * client, so that URLs reach the server as written.
 */
describe('security headers on unknown routes and error pages', () => {
  let kit: ConsoleKit;
  let viewer: Session;
  let expected: Record<string, string | undefined>;

  beforeAll(async () => {
    kit = await startConsoleKit();
    viewer = await kit.login('viewer');
    const page = await rawRequest(`${kit.url}/dead-letters`, { headers: { cookie: viewer.cookie } });
    expect(page.status).toBe(200);
    expected = Object.fromEntries(HEADERS.map((name) => [name, header(page, name)]));
    expect(expected['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(expected).toMatchObject({
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
    });
  });
  afterAll(async () => kit?.close());

  const expectHeaders = (what: string, answer: RawAnswer): void => {
    for (const name of HEADERS) expect(header(answer, name), `${what}: ${name}`).toBe(expected[name]);
  };

  it('sends them on unknown routes, whatever the method, logged in or not', async () => {
    const paths = [
      '/no-such-page',
      '/deep/no/such/page',
      '/api/no-such-route',
      '/api/dead-letters/1/no-such-action',
      '/assets/',
      '/assets/nope.js',
      '/assets/..%2f..%2fpackage.json',
      '/login/extra',
      '/%2e%2e/%2e%2e/etc/passwd',
      '/<script>alert(1)</script>',
    ];
    for (const path of paths) {
      for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD']) {
        for (const cookie of [undefined, viewer.cookie]) {
          const answer = await rawRequest(`${kit.url}${path}`, { method, headers: cookie ? { cookie } : {} });
          expect(answer.status, `${method} ${path}`).toBeGreaterThanOrEqual(300);
          expectHeaders(`${method} ${path}${cookie ? ' (logged in)' : ''}`, answer);
        }
      }
    }
  });

  it('sends them on error answers: malformed URLs, bad ids, 401, 403, 404, 413, 415 and 429', async () => {
    const operator = await kit.login('operator');
    const cases: Array<[string, string, Record<string, string>, string | undefined, number]> = [
      ['GET', '/%E0%A4%A', {}, undefined, 404],
      ['GET', '/dead-letters/%E0%A4%A', { cookie: viewer.cookie }, undefined, 400],
      ['GET', '/api/dead-letters/%E0%A4%A', { cookie: viewer.cookie }, undefined, 400],
      ['GET', '/dead-letters/abc', { cookie: viewer.cookie }, undefined, 400],
      ['GET', '/api/dead-letters/-1', { cookie: viewer.cookie }, undefined, 400],
      ['GET', '/dead-letters/999999', { cookie: viewer.cookie }, undefined, 404],
      ['GET', '/api/overview', {}, undefined, 401],
      ['GET', '/admin', { cookie: viewer.cookie }, undefined, 403],
      ['DELETE', '/api/admin/users/x', { cookie: viewer.cookie, 'x-csrf-token': viewer.csrf }, undefined, 403],
      [
        'POST',
        '/api/dead-letters/1/discard',
        { cookie: operator.cookie, 'content-type': 'application/json' },
        '{"reason":"x"}',
        403,
      ],
      [
        'POST',
        '/api/dead-letters/1/discard',
        { cookie: operator.cookie, 'x-csrf-token': operator.csrf, 'content-type': 'application/json' },
        'x'.repeat(2 * 1024 * 1024),
        413,
      ],
      [
        'POST',
        '/api/dead-letters/1/discard',
        { cookie: operator.cookie, 'x-csrf-token': operator.csrf, 'content-type': 'text/plain' },
        'reason=x',
        415,
      ],
      ['POST', '/api/auth/login', { 'content-type': 'application/json' }, '{"username":', 400],
      [
        'POST',
        '/login',
        { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
        'username=viewer&password=x',
        403,
      ],
    ];
    for (const [method, path, headers, body, status] of cases) {
      const answer = await rawRequest(`${kit.url}${path}`, { method, headers, body });
      expect(answer.status, `${method} ${path}`).toBe(status);
      expectHeaders(`${method} ${path} (${status})`, answer);
    }
    // A throttled login, on the API and on the login form.
    for (let attempt = 0; attempt < 6; attempt++) {
      await rawRequest(`${kit.url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: `wrong ${attempt}` }),
      });
    }
    const throttled = await rawRequest(`${kit.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin', password: PASSWORD }),
    });
    expect(throttled.status).toBe(429);
    expectHeaders('429 API', throttled);
    const throttledForm = await rawRequest(`${kit.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: kit.origin },
      body: new URLSearchParams({ username: 'admin', password: PASSWORD }).toString(),
    });
    expect(throttledForm.status).toBe(429);
    expectHeaders('429 form', throttledForm);
  });

  it('leaves the host app’s other paths alone', async () => {
    const other = await rawRequest(`${kit.origin}/not-the-console`);
    expect(other.status).toBe(404);
    expect(header(other, 'content-security-policy')).toBeUndefined();
    const lookalike = await rawRequest(`${kit.origin}/consoleX/page`);
    expect(header(lookalike, 'content-security-policy')).toBeUndefined();
  });
});
