import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Controller, Get, Injectable, Module, Post, Req } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import {
  MqConsumer,
  RELIABLE_MQ_TRANSPORT,
  ReliableMqModule,
  type DeadLetterOperations,
  type Transport,
} from '@reliable-mq/nestjs';
import { IsString } from 'class-validator';
import { MetricsSampler, ReliableMqConsoleModule, hashConsolePassword } from '@reliable-mq/console';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  PASSWORD,
  bundleFiles,
  startConsoleKit,
  startConsoleWithDeadLetter,
  type ConsoleKit,
  type Session,
} from './console-test-kit';

const SCRIPT = '<script>alert("x")</script>';
const IMG = '<img src=x onerror=alert(1)>';

/** No hostile markup survives: the raw text is absent and its escaped form is present. */
function expectEscaped(html: string, hostile: string): void {
  expect(html).not.toContain(hostile);
  expect(html).toContain(
    hostile.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;'),
  );
}

describe('pages and overview', () => {
  let kit: ConsoleKit;
  let admin: Session;
  let viewer: Session;
  let hostileId = 0;

  beforeAll(async () => {
    kit = await startConsoleKit();
    admin = await kit.login('admin');
    viewer = await kit.login('viewer');
    await kit.deadLetter({ key: 'plain' });
    hostileId = await kit.deadLetter({
      key: `key-${SCRIPT}`,
      payload: { note: IMG, nested: { html: SCRIPT } },
      headers: { 'x-evil': SCRIPT, 'x-img': IMG },
      error: `${SCRIPT} ${IMG}`,
    });
  });
  afterAll(async () => kit?.close());

  it('renders message content, headers, keys and error texts escaped in every page that shows them', async () => {
    const detail = await kit.call('GET', `/dead-letters/${hostileId}`, { session: admin });
    expect(detail.status).toBe(200);
    expectEscaped(detail.text, SCRIPT);
    expectEscaped(detail.text, IMG);
    expect(detail.text).toContain('x-evil');
    const list = await kit.call('GET', '/dead-letters', { session: admin });
    expectEscaped(list.text, SCRIPT);
    expectEscaped(list.text, IMG);
    // Filter values echo back into the form escaped too.
    const echoed = await kit.call('GET', `/dead-letters?key=${encodeURIComponent(`"><script>alert(9)</script>`)}`, {
      session: admin,
    });
    expect(echoed.text).not.toContain('<script>alert(9)');
    expect(echoed.text).toContain('value="&quot;&gt;&lt;script&gt;alert(9)&lt;/script&gt;"');
    // Audit entries (here: a discard whose reason is hostile) are escaped as well.
    const operator = await kit.login('operator');
    await kit.call('POST', `/api/dead-letters/${hostileId}/discard`, {
      session: operator,
      body: { reason: `${IMG} ${SCRIPT}` },
    });
    const audit = await kit.call('GET', '/audit', { session: admin });
    expectEscaped(audit.text, IMG);
    expectEscaped(audit.text, SCRIPT);
    const discarded = await kit.call('GET', '/dead-letters?status=discarded', { session: admin });
    expectEscaped(discarded.text, IMG);
  });

  it('answers JSON as JSON: hostile text stays data, never a page', async () => {
    const answer = await kit.call('GET', `/api/dead-letters/${hostileId}`, { session: admin });
    expect(answer.headers.get('content-type')).toContain('application/json');
    expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('renders every page for a viewer, with navigation, the CSRF meta tag and no actions it may not take', async () => {
    for (const [path, title] of [
      ['', 'Overview'],
      ['/dead-letters', 'Dead letters'],
      [`/dead-letters/${hostileId}`, `Dead letter ${hostileId}`],
      ['/outbox', 'Outbox'],
      ['/outbox?service=orders&state=dead', 'Outbox'],
      ['/transactions', 'Transactions'],
      ['/transactions?state=unresolved', 'Transactions'],
      ['/audit', 'Audit log'],
    ] as const) {
      const page = await kit.call('GET', path, { session: viewer });
      expect(page.status, path).toBe(200);
      expect(page.headers.get('content-type'), path).toContain('text/html');
      expect(page.text, path).toContain(`<h1>${title}</h1>`);
      expect(page.text, path).toMatch(/<meta name="csrf-token" content="[A-Za-z0-9_-]{43}"\s*\/?>/);
      // The built bundle, linked by the hashed names of its manifest.
      expect(page.text, path).toContain(
        `<script type="module" src="/console/assets/${bundleFiles().script}"></script>`,
      );
      expect(page.text, path).toContain(`<link rel="stylesheet" href="/console/assets/${bundleFiles().style}" />`);
      expect(page.text, path).toContain('data-testid="skip-link"');
      expect(page.text, path).not.toContain('data-endpoint="api/dead-letters/retry"');
      expect(page.text, path).not.toContain('>Admin</a>');
    }
    const operator = await kit.login('operator');
    const operatorList = await kit.call('GET', '/dead-letters', { session: operator });
    expect(operatorList.text).toContain('data-endpoint="api/dead-letters/retry"');
    expect(operatorList.text).toContain('Retry all 1 matching');
    const adminPage = await kit.call('GET', '/admin', { session: admin });
    expect(adminPage.status).toBe(200);
    expect(adminPage.text).toContain('BillingConsumer.charge');
    expect(adminPage.text).toContain('dto:OrderPayloadDto');
  });

  it('keeps filters in the URL: pagination links carry them, and bad filters are shown, not thrown', async () => {
    for (let index = 0; index < 3; index++) await kit.deadLetter({ key: `page-${index}`, error: 'paged' });
    const page = await kit.call('GET', '/dead-letters?error=paged&limit=25', { session: viewer });
    expect(page.text).toContain('value="paged"');
    expect(page.text).toContain('1–3 of 3');
    const small = await kit.call('GET', '/dead-letters?error=paged&limit=2', { session: viewer });
    expect(small.status).toBe(200);
    expect(small.text).toContain(
      'href="/console/dead-letters?error=paged&amp;limit=2&amp;offset=2" rel="next">Next →</a>',
    );
    const bad = await kit.call('GET', '/dead-letters?from=yesterday', { session: viewer });
    expect(bad.status).toBe(200);
    expect(bad.text).toContain('from must be epoch milliseconds or an ISO 8601 date-time');
    const paged = await kit.call('GET', '/dead-letters?error=paged&limit=25&offset=0', { session: viewer });
    expect(paged.text).not.toContain('Next →');
  });

  it('builds the overview from engine statistics, outbox counts and half messages', async () => {
    const overview = await kit.call<{
      broker: { label: string; statsAvailable: boolean };
      groups: Array<{ group: string; topic: string; dlqCount: number; dedupWindowMs: number | null }>;
      topics: Array<{ topic: string; storedMessages: number }>;
      deadLetters: { total: number };
      outbox: { services: Array<{ name: string; counts: { pending: number } }> };
      transactions: { supported: boolean };
    }>('GET', '/api/overview', { session: viewer });
    expect(overview.status).toBe(200);
    expect(overview.body.broker).toMatchObject({ label: 'embedded (test)', statsAvailable: true });
    const billing = overview.body.groups.find((group) => group.group === 'billing')!;
    expect(billing).toMatchObject({ topic: 'orders', dedupWindowMs: null });
    expect(billing.dlqCount).toBeGreaterThanOrEqual(4);
    expect(overview.body.groups.find((group) => group.group === 'short-window')!.dedupWindowMs).toBe(60_000);
    expect(overview.body.topics.find((topic) => topic.topic === 'orders')!.storedMessages).toBeGreaterThan(0);
    expect(overview.body.outbox.services).toEqual([
      expect.objectContaining({ name: 'orders', counts: expect.objectContaining({ pending: 0 }) }),
    ]);
    expect(overview.body.transactions.supported).toBe(true);
    const consumers = await kit.call<{ items: Array<{ group: string; validation: string }> }>('GET', '/api/consumers', {
      session: viewer,
    });
    expect(consumers.body.items).toEqual([
      expect.objectContaining({ group: 'billing', validation: 'dto:OrderPayloadDto' }),
    ]);
  });

  it('samples backlog and rates into its own store for charts, and keeps retention bounded', async () => {
    const sampler = kit.app.get(MetricsSampler);
    await sampler.sampleNow();
    kit.clock.advance(60_000);
    await sampler.sampleNow();
    const series = await kit.call<{
      range: string;
      series: Array<{ series: string; kind: string; points: Array<{ at: number; value: number }> }>;
    }>('GET', '/api/overview/series?range=15m', { session: viewer });
    expect(series.status).toBe(200);
    const dlq = series.body.series.find((entry) => entry.series === 'dlq:billing|orders')!;
    expect(dlq.points.length).toBeGreaterThanOrEqual(2);
    expect(series.body.series.some((entry) => entry.kind === 'lag')).toBe(true);
    expect(series.body.series.some((entry) => entry.series === 'publish:orders')).toBe(true);
    expect((await kit.call('GET', '/api/overview/series?range=2y', { session: viewer })).status).toBe(400);
    const page = await kit.call('GET', '/?range=15m', { session: viewer });
    expect(page.text).toContain('<polyline class="line s');
    expect(page.text).toContain('Dead letters per group and topic');

    // Retention: a day later the old samples are gone once the next sample is taken.
    const countRows = () =>
      (
        kit.app.get(MetricsSampler) as unknown as { store: { db: { prepare(sql: string): { get(): { n: number } } } } }
      ).store.db
        .prepare('SELECT COUNT(*) AS n FROM samples')
        .get().n;
    const before = countRows();
    kit.clock.advance(25 * 3_600_000);
    await sampler.sampleNow();
    const after = countRows();
    expect(after).toBeLessThan(before);
    kit.clock.advance(-(25 * 3_600_000 + 60_000));
  });

  it('filters the audit log by who, what, target and time, and refuses malformed filters', async () => {
    const all = await kit.call<{ total: number; items: Array<{ actor: string; action: string; at: number }> }>(
      'GET',
      '/api/audit',
      { session: viewer },
    );
    expect(all.body.total).toBeGreaterThan(0);
    const logins = await kit.call<{ items: Array<{ action: string }> }>('GET', '/api/audit?action=auth.', {
      session: viewer,
    });
    expect(logins.body.items.every((entry) => entry.action.startsWith('auth.'))).toBe(true);
    const byActor = await kit.call<{ items: Array<{ actor: string }> }>('GET', '/api/audit?actor=operator', {
      session: viewer,
    });
    expect(byActor.body.items.length).toBeGreaterThan(0);
    expect(byActor.body.items.every((entry) => entry.actor === 'operator')).toBe(true);
    const future = await kit.call<{ total: number }>('GET', `/api/audit?from=${Date.now() + 3_600_000 * 48}`, {
      session: viewer,
    });
    expect(future.body.total).toBe(0);
    for (const query of ['limit=0', 'limit=501', 'from=later', 'to=2024-99-99', 'what=1']) {
      expect((await kit.call('GET', `/api/audit?${query}`, { session: viewer })).status, query).toBe(400);
    }
  });

  it('lets an admin add, change and remove console users and change settings, all audited', async () => {
    const add = await kit.call('POST', '/api/admin/users', {
      session: admin,
      body: { username: 'oncall', password: 'a long enough password', role: 'viewer' },
    });
    expect(add.status).toBe(201);
    for (const body of [
      { username: 'oncall', password: 'a long enough password', role: 'viewer' },
      { username: 'admin', password: 'a long enough password', role: 'viewer' },
    ]) {
      expect((await kit.call('POST', '/api/admin/users', { session: admin, body })).status).toBe(409);
    }
    for (const body of [
      { username: 'bad name', password: 'a long enough password', role: 'viewer' },
      { username: 'short', password: 'short', role: 'viewer' },
      { username: 'nobody', password: 'a long enough password', role: 'root' },
    ]) {
      expect((await kit.call('POST', '/api/admin/users', { session: admin, body })).status, JSON.stringify(body)).toBe(
        400,
      );
    }
    const login = await kit.call<{ role: string; csrfToken: string }>('POST', '/api/auth/login', {
      body: { username: 'oncall', password: 'a long enough password' },
    });
    expect(login.body.role).toBe('viewer');
    const session = { cookie: login.headers.get('set-cookie')!.split(';')[0]!, csrf: login.body.csrfToken };
    expect(
      (await kit.call('PATCH', '/api/admin/users/oncall', { session: admin, body: { role: 'operator' } })).status,
    ).toBe(200);
    // A role change ends the user's sessions.
    expect((await kit.call('GET', '/api/auth/me', { session })).status).toBe(401);
    expect(
      (await kit.call('PATCH', '/api/admin/users/admin', { session: admin, body: { role: 'viewer' } })).status,
    ).toBe(409);
    expect(
      (await kit.call('PATCH', '/api/admin/users/ghost', { session: admin, body: { role: 'viewer' } })).status,
    ).toBe(404);
    expect((await kit.call('PATCH', '/api/admin/users/oncall', { session: admin, body: {} })).status).toBe(400);
    const users = await kit.call<{ items: Array<{ username: string; role: string; source: string }> }>(
      'GET',
      '/api/admin/users',
      { session: admin },
    );
    expect(users.body.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ username: 'admin', source: 'config' }),
        expect.objectContaining({ username: 'oncall', role: 'operator', source: 'console' }),
      ]),
    );
    expect(JSON.stringify(users.body)).not.toContain('scrypt$');
    expect((await kit.call('DELETE', '/api/admin/users/oncall', { session: admin })).status).toBe(200);
    expect(
      (await kit.call('POST', '/api/auth/login', { body: { username: 'oncall', password: 'a long enough password' } }))
        .status,
    ).toBe(401);

    expect(
      (await kit.call('PUT', '/api/admin/settings', { session: admin, body: { defaultRetryRatePerSec: 501 } })).status,
    ).toBe(400);
    expect((await kit.call('PUT', '/api/admin/settings', { session: admin, body: { stuckAfterMs: 10 } })).status).toBe(
      400,
    );
    const settings = await kit.call('PUT', '/api/admin/settings', {
      session: admin,
      body: { defaultRetryRatePerSec: 7 },
    });
    expect(settings.body).toMatchObject({ defaultRetryRatePerSec: 7 });
    const entries = await kit.call<{ items: Array<{ action: string; actor: string }> }>(
      'GET',
      '/api/audit?action=admin.',
      { session: admin },
    );
    expect(entries.body.items.map((entry) => entry.action)).toEqual([
      'admin.settings.update',
      'admin.user.delete',
      'admin.user.update',
      'admin.user.create',
    ]);
  });
});

describe('a broker that names things with markup, and no statistics', () => {
  let kit: ConsoleKit;
  const hostileTopic = `topic-${SCRIPT}`;
  const hostileGroup = `group-${IMG}`;

  beforeAll(async () => {
    kit = await startConsoleWithDeadLetter({
      group: hostileGroup,
      topic: hostileTopic,
      key: 'k',
      tags: [SCRIPT],
      headers: { [SCRIPT]: IMG },
      body: Buffer.from('not json <b>bold</b>'),
      reason: 'boom',
    });
  });
  afterAll(async () => kit?.close());

  it('escapes hostile topic and group names on the overview, lists, detail and admin pages', async () => {
    const admin = await kit.login('admin');
    for (const path of ['', '/dead-letters', '/dead-letters/7', '/admin']) {
      const page = await kit.call('GET', path, { session: admin });
      expect(page.status, path).toBe(200);
      if (path !== '') expectEscaped(page.text, SCRIPT);
      if (path !== '') expectEscaped(page.text, IMG);
    }
    const detail = await kit.call('GET', '/dead-letters/7', { session: admin });
    expect(detail.text).toContain('not json &lt;b&gt;bold&lt;/b&gt;');
    expect(detail.text).toContain('The payload is not JSON');
    const overview = await kit.call<{
      broker: { statsAvailable: boolean };
      deadLetters: { total: number };
      groups: unknown[];
    }>('GET', '/api/overview', { session: admin });
    expect(overview.body).toMatchObject({ broker: { statsAvailable: false }, deadLetters: { total: 1 }, groups: [] });
    const page = await kit.call('GET', '', { session: admin });
    expect(page.text).toContain('This broker gives no backlog or rate statistics');
  });
});

describe('mounting in a host application', () => {
  it('serves the console at the path given, leaves the host routes alone, and follows a global prefix', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rmq-console-host-'));
    @Controller('hello')
    class HelloController {
      @Get()
      hello(): { hello: string } {
        return { hello: 'world' };
      }

      @Post()
      echo(@Req() request: { body?: unknown }): unknown {
        return { received: request.body ?? null };
      }
    }
    const hash = await hashConsolePassword(PASSWORD, { cost: 10 });
    const deadLetters: DeadLetterOperations = {
      list: async () => ({ total: 0, items: [] }),
      get: async () => undefined,
      resend: async () => [],
      discard: async () => [],
    };
    @Module({
      imports: [
        ReliableMqConsoleModule.forRoot({
          path: '/ops/console',
          broker: { transport: { kind: 'fake', deadLetters } },
          auth: { users: [{ username: 'admin', passwordHash: hash, role: 'admin' }] },
          storeFile: join(dir, 'console.sqlite'),
          sampling: false,
        }),
      ],
      controllers: [HelloController],
    })
    class HostModule {}
    const app = await NestFactory.create<NestExpressApplication>(HostModule, { logger: false });
    app.setGlobalPrefix('api');
    await app.listen(0, '127.0.0.1');
    const origin = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
    try {
      const hello = await fetch(`${origin}/api/hello`);
      expect(hello.status).toBe(200);
      expect(hello.headers.get('content-security-policy')).toBeNull();
      // Under the prefixed mount, unknown paths get the console's headers; the host's own unknown paths do not.
      const unknown = await fetch(`${origin}/api/ops/console/no-such-page`);
      expect(unknown.status).toBe(404);
      expect(unknown.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect((await fetch(`${origin}/api/no-such-route`)).headers.get('content-security-policy')).toBeNull();
      // The host's own body parser and limit apply to its routes, not the console's.
      const echo = await fetch(`${origin}/api/hello`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ a: 1 }),
      });
      expect(await echo.json()).toEqual({ received: { a: 1 } });
      expect((await fetch(`${origin}/api/ops/console/api/overview`)).status).toBe(401);
      const login = await fetch(`${origin}/api/ops/console/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: PASSWORD }),
      });
      expect(login.status).toBe(200);
      expect(login.headers.get('set-cookie')).toContain('Path=/api/ops/console;');
      const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
      const page = await fetch(`${origin}/api/ops/console/dead-letters`, { headers: { cookie } });
      expect(page.status).toBe(200);
      const text = await page.text();
      expect(text).toMatch(/<meta name="console-base" content="\/api\/ops\/console"\s*\/?>/);
      expect(text).toContain(`href="/api/ops/console/assets/${bundleFiles().style}"`);
      expect(text).toContain(`src="/api/ops/console/assets/${bundleFiles().script}"`);
      const script = await fetch(`${origin}/api/ops/console/assets/${bundleFiles().script}`);
      expect(script.status).toBe(200);
      const redirect = await fetch(`${origin}/api/ops/console/audit`, { redirect: 'manual' });
      expect(redirect.headers.get('location')).toBe('/api/ops/console/login?next=%2Fapi%2Fops%2Fconsole%2Faudit');
      // The host parsed a body above the console's limit: the declared length still gets a 413.
      const big = await fetch(`${origin}/api/ops/console/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie },
        body: JSON.stringify({ username: 'x'.repeat(2 * 1024 * 1024), password: 'y' }),
      });
      expect(big.status).toBe(413);
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("discovers the host app's handlers with their DTOs, and its dedup window, when mounted next to ReliableMqModule", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rmq-console-discover-'));
    class ShipmentDto {
      @IsString()
      shipmentId!: string;
    }
    @Injectable()
    class ShipmentConsumer {
      @MqConsumer({ topic: 'shipments', group: 'shipping', dto: ShipmentDto })
      async ship(): Promise<void> {}
    }
    const hash = await hashConsolePassword(PASSWORD, { cost: 10 });
    @Module({
      imports: [
        ReliableMqModule.forRoot({
          producerGroup: 'shipping',
          dedup: { store: 'memory' },
          transport: {
            kind: 'embedded',
            dataDir: join(dir, 'broker'),
            flush: 'async',
            topics: ['shipments'],
            engine: { minFreeDiskBytes: 0 },
          },
        }),
        ReliableMqConsoleModule.forRootAsync({
          inject: [RELIABLE_MQ_TRANSPORT],
          useFactory: (transport: Transport) => ({
            broker: { transport },
            auth: { users: [{ username: 'admin', passwordHash: hash, role: 'admin' as const }] },
            storeFile: join(dir, 'console.sqlite'),
            sampling: false as const,
          }),
        }),
      ],
      providers: [ShipmentConsumer],
    })
    class ShippingModule {}
    const app = await NestFactory.create<NestExpressApplication>(ShippingModule, { logger: false });
    await app.listen(0, '127.0.0.1');
    const base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}/console`;
    try {
      const login = await fetch(`${base}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin', password: PASSWORD }),
      });
      const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
      const consumers = (await (await fetch(`${base}/api/consumers`, { headers: { cookie } })).json()) as {
        items: unknown[];
      };
      expect(consumers.items).toEqual([
        {
          group: 'shipping',
          topic: 'shipments',
          handler: 'ShipmentConsumer.ship',
          validation: 'dto:ShipmentDto',
          dedupWindowMs: 7 * 24 * 3_600_000,
        },
      ]);
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
