import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { DeadLetterOperations } from '@reliable-mq/nestjs';
import { ReliableMqConsoleModule, hashConsolePassword } from '@reliable-mq/console';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PASSWORD, insertOutboxRow, startConsoleKit, type ConsoleKit, type Session } from './console-test-kit';

/** The values of one column, in the order the page shows its rows. */
function column(html: string, testId: string, attribute = 'data-id'): string[] {
  const pattern = new RegExp(`data-testid="${testId}" ${attribute}="([^"]*)"`, 'g');
  return [...html.matchAll(pattern)].map((match) => match[1]!);
}

/** The `<th>` holding the sort link of one column. */
function header(html: string, table: string, name: string): string {
  const link = html.indexOf(`data-testid="sort-${table}-${name}"`);
  expect(link, `sort link of ${table}.${name}`).toBeGreaterThan(0);
  const start = html.lastIndexOf('<th', link);
  return html.slice(start, html.indexOf('</th>', link));
}

function hrefOf(th: string): string {
  return /href="([^"]*)"/.exec(th)![1]!.replace(/&amp;/g, '&');
}

describe('sorting, filters in the URL, and coming back after an action', () => {
  let kit: ConsoleKit;
  let viewer: Session;
  let operator: Session;
  const ids: Record<string, number> = {};
  const UUIDS = ['0190a000-0000-7000-8000-000000000001', '0190a000-0000-7000-8000-000000000002'];

  beforeAll(async () => {
    kit = await startConsoleKit();
    viewer = await kit.login('viewer');
    operator = await kit.login('operator');
    // Dead in the order c, a, b: newest first (the default) is b, a, c.
    for (const key of ['sort-c', 'sort-a', 'sort-b']) {
      ids[key] = await kit.deadLetter({ key, error: 'sorting' });
    }
    const now = Date.now();
    await insertOutboxRow(kit.dataSource, {
      id: UUIDS[0]!,
      key: 'row-z',
      status: 'dead',
      createdAt: now - 5000,
      attempts: 2,
      lastError: 'b',
    });
    await insertOutboxRow(kit.dataSource, {
      id: UUIDS[1]!,
      key: 'row-y',
      status: 'dead',
      createdAt: now - 4000,
      attempts: 9,
      lastError: null,
    });
    for (const key of ['tx-c', 'tx-a', 'tx-b']) {
      await kit.engine.sendHalf({ topic: 'orders', key, body: '{}' }, { producerGroup: 'checkout' });
    }
  });
  afterAll(async () => kit?.close());

  it('refuses an unknown sort column with a 400 naming the allowed ones, in the API and on every page', async () => {
    for (const path of [
      '/api/dead-letters?sort=color',
      '/api/outbox/orders/rows?sort=color',
      '/api/transactions?sort=color',
      '/api/audit?sort=color',
    ]) {
      const answer = await kit.call<{ message: string[] }>('GET', path, { session: viewer });
      expect(answer.status, path).toBe(400);
      expect(answer.body.message.join(' '), path).toMatch(/sort must be one of: [a-zA-Z, ]+; got "color"/);
    }
    const api = await kit.call<{ message: string[] }>('GET', '/api/dead-letters?sort=color', { session: viewer });
    expect(api.body.message).toEqual([
      'sort must be one of: id, group, topic, key, error, attempts, deadAt, age, status; got "color".',
    ]);
    expect((await kit.call('GET', '/api/audit?sort=actor&dir=up', { session: viewer })).status).toBe(400);

    const pages: Array<[string, string]> = [
      ['/dead-letters?sort=color', 'sort must be one of: id, group, topic, key, error, attempts, deadAt, age, status'],
      ['/dead-letters?sort=key&dir=sideways', 'dir must be asc or desc'],
      ['/outbox?service=orders&sort=color', 'sort must be one of: seq, id, topic, key, attempts, createdAt'],
      ['/outbox?serviceSort=color', 'serviceSort must be one of: name, database, pending, stuck, dead, oldestPending'],
      ['/transactions?sort=color', 'sort must be one of: txId, producerGroup, topic, key, sentAt, checks'],
      ['/audit?sort=color', 'sort must be one of: at, actor, action, target, count, reason, outcome'],
      ['/?sort=color', 'sort must be one of: group, topic, lag, inFlight, retrying, dlq, consumeRate, dedupWindow'],
      ['/?topicSort=color', 'topicSort must be one of: topic, stored, publishRate'],
    ];
    for (const [path, message] of pages) {
      const page = await kit.call('GET', path, { session: viewer });
      expect(page.status, path).toBe(400);
      expect(page.headers.get('content-type'), path).toContain('text/html');
      expect(page.text, path).toContain(message);
    }
    const admin = await kit.login('admin');
    for (const path of ['/admin?sort=color', '/admin?handlerSort=color', '/admin?jobDir=up']) {
      expect((await kit.call('GET', path, { session: admin })).status, path).toBe(400);
    }
  });

  it('sorts dead letters on the server, so the order holds across pages, in the API and the page', async () => {
    const api = async (query: string) =>
      (
        await kit.call<{ total: number; items: Array<{ key: string }> }>('GET', `/api/dead-letters?${query}`, {
          session: viewer,
        })
      ).body;
    expect((await api('error=sorting')).items.map((letter) => letter.key)).toEqual(['sort-b', 'sort-a', 'sort-c']);
    const first = await api('error=sorting&sort=key&dir=asc&limit=2');
    const second = await api('error=sorting&sort=key&dir=asc&limit=2&offset=2');
    expect(first.total).toBe(3);
    expect([...first.items, ...second.items].map((letter) => letter.key)).toEqual(['sort-a', 'sort-b', 'sort-c']);
    expect((await api('error=sorting&sort=key&dir=desc')).items.map((letter) => letter.key)).toEqual([
      'sort-c',
      'sort-b',
      'sort-a',
    ]);
    expect((await api('error=sorting&sort=id&dir=asc')).items.map((letter) => letter.key)).toEqual([
      'sort-c',
      'sort-a',
      'sort-b',
    ]);

    const page1 = await kit.call('GET', '/dead-letters?error=sorting&sort=key&dir=asc&limit=2', { session: viewer });
    const page2 = await kit.call('GET', '/dead-letters?error=sorting&sort=key&dir=asc&limit=2&offset=2', {
      session: viewer,
    });
    expect([...column(page1.text, 'dead-letter-row'), ...column(page2.text, 'dead-letter-row')]).toEqual(
      ['sort-a', 'sort-b', 'sort-c'].map((key) => String(ids[key])),
    );
    // The pager keeps the sort and the filters.
    expect(page1.text).toContain(
      'href="/console/dead-letters?error=sorting&amp;sort=key&amp;dir=asc&amp;limit=2&amp;offset=2" rel="next"',
    );
  });

  it('marks the sorted column with aria-sort, and its header links keep the filters and flip the direction', async () => {
    const page = await kit.call('GET', '/dead-letters?error=sorting&sort=key&dir=asc&limit=2&offset=2', {
      session: viewer,
    });
    const key = header(page.text, 'dead-letters', 'key');
    expect(key).toContain('aria-sort="ascending"');
    // The link goes back to page one, keeps the filter and the page size, and offers the other direction.
    expect(hrefOf(key)).toBe('/console/dead-letters?error=sorting&sort=key&dir=desc&limit=2');
    const group = header(page.text, 'dead-letters', 'group');
    expect(group).not.toContain('aria-sort');
    expect(hrefOf(group)).toBe('/console/dead-letters?error=sorting&sort=group&dir=asc&limit=2');
    // Times and counts start descending.
    expect(hrefOf(header(page.text, 'dead-letters', 'attempts'))).toContain('sort=attempts&dir=desc');
    expect(page.text.match(/aria-sort=/g)).toHaveLength(1);
    // The default order is marked too, without parameters in the URL.
    const plain = await kit.call('GET', '/dead-letters', { session: viewer });
    expect(header(plain.text, 'dead-letters', 'deadAt')).toContain('aria-sort="descending"');
    expect(hrefOf(header(plain.text, 'dead-letters', 'deadAt'))).toBe('/console/dead-letters?sort=deadAt&dir=asc');
    // The filter form sends the sort along, so filtering keeps it.
    expect(page.text).toMatch(
      /<input type="hidden" name="sort" value="key" \/>\s*<input type="hidden" name="dir" value="asc" \/>/,
    );
    expect(plain.text).not.toContain('<input type="hidden" name="sort"');
  });

  it('sorts outbox rows in SQL, half messages over all matches, the audit log, and the overview tables', async () => {
    const rows = await kit.call<{ items: Array<{ key: string }> }>(
      'GET',
      '/api/outbox/orders/rows?state=dead&sort=attempts&dir=desc',
      { session: viewer },
    );
    expect(rows.body.items.map((row) => row.key)).toEqual(['row-y', 'row-z']);
    // A row without an error sorts last in both directions.
    for (const dir of ['asc', 'desc']) {
      const byError = await kit.call<{ items: Array<{ key: string }> }>(
        'GET',
        `/api/outbox/orders/rows?state=dead&sort=error&dir=${dir}`,
        { session: viewer },
      );
      expect(
        byError.body.items.map((row) => row.key),
        dir,
      ).toEqual(['row-z', 'row-y']);
    }
    const outboxPage = await kit.call('GET', '/outbox?service=orders&state=dead&sort=key&dir=asc', {
      session: viewer,
    });
    expect(column(outboxPage.text, 'outbox-row')).toEqual([UUIDS[1], UUIDS[0]]);
    expect(header(outboxPage.text, 'outbox-rows', 'key')).toContain('aria-sort="ascending"');
    expect(header(outboxPage.text, 'outbox-services', 'name')).toContain('aria-sort="ascending"');

    const halves = await kit.call<{ items: Array<{ key: string }> }>(
      'GET',
      '/api/transactions?state=unresolved&sort=key&dir=desc',
      { session: viewer },
    );
    expect(halves.body.items.map((half) => half.key)).toEqual(['tx-c', 'tx-b', 'tx-a']);
    const txPage = await kit.call('GET', '/transactions?state=unresolved&sort=key&dir=asc&limit=2', {
      session: viewer,
    });
    expect(txPage.text.indexOf('>tx-a<')).toBeGreaterThan(0);
    expect(txPage.text.indexOf('>tx-a<')).toBeLessThan(txPage.text.indexOf('>tx-b<'));
    expect(txPage.text).not.toContain('>tx-c<');

    const audit = await kit.call<{ items: Array<{ actor: string; id: number }> }>(
      'GET',
      '/api/audit?action=auth.login&sort=actor&dir=asc',
      { session: viewer },
    );
    const actors = audit.body.items.map((entry) => entry.actor);
    expect(actors).toEqual([...actors].sort());
    expect(new Set(actors)).toEqual(new Set(['admin', 'operator', 'viewer']));
    expect(actors[0]).toBe('admin');
    const newest = await kit.call<{ items: Array<{ id: number }> }>('GET', '/api/audit', { session: viewer });
    const oldest = await kit.call<{ items: Array<{ id: number }> }>('GET', '/api/audit?sort=at&dir=asc', {
      session: viewer,
    });
    expect(newest.body.items[0]!.id).toBeGreaterThan(oldest.body.items[0]!.id);

    // The overview's tables each have their own parameters; the topics table keeps the groups' sort.
    const overview = await kit.call('GET', '/?sort=dlq&dir=desc&topicSort=stored&topicDir=asc', { session: viewer });
    expect(overview.status).toBe(200);
    expect(header(overview.text, 'groups', 'dlq')).toContain('aria-sort="descending"');
    expect(header(overview.text, 'topics', 'stored')).toContain('aria-sort="ascending"');
    expect(hrefOf(header(overview.text, 'topics', 'topic'))).toBe(
      '/console?sort=dlq&dir=desc&topicSort=topic&topicDir=asc',
    );
    const billing = overview.text.indexOf('<td>billing</td>');
    const shortWindow = overview.text.indexOf('<td>short-window</td>');
    expect(billing).toBeGreaterThan(0);
    // billing has dead letters, short-window none: most DLQ first.
    expect(billing).toBeLessThan(shortWindow);
  });

  it('links each dead letter to its detail with the list URL, and the detail returns there after an action', async () => {
    const list = '/console/dead-letters?error=sorting&sort=key&dir=asc';
    const page = await kit.call('GET', '/dead-letters?error=sorting&sort=key&dir=asc', { session: operator });
    const back = encodeURIComponent(list).replace(/%20/g, '+');
    expect(page.text).toContain(`href="/console/dead-letters/${ids['sort-a']}?back=${back.replace(/&/g, '&amp;')}"`);

    const detail = await kit.call('GET', `/dead-letters/${ids['sort-a']}?back=${encodeURIComponent(list)}`, {
      session: operator,
    });
    expect(detail.status).toBe(200);
    const escaped = list.replace(/&/g, '&amp;');
    expect(detail.text).toContain(`<a href="${escaped}" data-testid="back-to-list">`);
    // Retry, edit and retry, and discard all go back to the same filtered, sorted list when they succeed.
    for (const form of ['retry-form', 'edit-retry-form', 'discard-form']) {
      expect(detail.text).toMatch(
        new RegExp(`data-after-url="${escaped.replace(/[?]/g, '\\?')}"[^>]*data-testid="${form}"`),
      );
    }

    // Anything but a list URL of this console is ignored: the page links the letter's group instead.
    for (const bad of [
      'https://evil.example/console/dead-letters',
      '//evil.example/console/dead-letters',
      '/console/dead-letters/../admin',
      '/console/audit?x=1',
      '/console/dead-letters?x=//evil',
      'javascript:alert(1)',
    ]) {
      const other = await kit.call('GET', `/dead-letters/${ids['sort-a']}?back=${encodeURIComponent(bad)}`, {
        session: operator,
      });
      expect(other.status, bad).toBe(200);
      expect(other.text, bad).toContain(`href="/console/dead-letters?group=billing" data-testid="back-to-list"`);
      expect(other.text, bad).not.toContain('evil');
      expect(other.text, bad).toContain('data-reload');
    }
  });

  it('sends a lost session to the login page and back to the same filtered, sorted, paged URL', async () => {
    const target = '/console/dead-letters?error=sorting&sort=key&dir=desc&limit=2&offset=2';
    const redirect = await kit.call('GET', target.replace('/console', ''));
    expect(redirect.status).toBe(303);
    const location = redirect.headers.get('location')!;
    expect(location).toBe(`/console/login?next=${encodeURIComponent(target)}`);
    const form = await kit.call('GET', location.replace('/console', ''));
    expect(form.text).toContain(`name="next" value="${target.replace(/&/g, '&amp;')}"`);
    const login = await kit.call('POST', '/login', {
      raw: new URLSearchParams({ username: 'viewer', password: PASSWORD, next: target }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: kit.origin },
    });
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toBe(target);
  });

  it('hands running bulk retries to the page in a JSON island that content cannot break out of', async () => {
    const hostile = '</script><script>alert(1)</script>';
    await kit.deadLetter({ key: hostile, error: 'island' });
    const started = await kit.call<{ id: string; state: string }>('POST', '/api/dead-letters/retry', {
      session: operator,
      body: { filter: { key: hostile }, ratePerSec: 1 },
    });
    expect(started.status).toBe(202);
    const page = await kit.call('GET', '/dead-letters?status=any', { session: operator });
    expect(page.text).not.toContain('<script>alert(1)');
    const island = /<script type="application\/json" id="jobs-data">([^<]*)<\/script>/.exec(page.text);
    expect(island).not.toBeNull();
    const jobs = JSON.parse(island![1]!) as Array<{ id: string; scope: string }>;
    expect(jobs.find((job) => job.id === started.body.id)!.scope).toBe(`dead-letters matching key=${hostile}`);
    expect(page.text).toContain(`data-job-id="${started.body.id}"`);
    expect(page.text).toContain('data-can-cancel="true"');
  });
});

describe('a console whose front end is not built', () => {
  it('refuses to start, naming the command that builds it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rmq-console-nobundle-'));
    const saved = process.env.RELIABLE_MQ_CONSOLE_UI_DIR;
    process.env.RELIABLE_MQ_CONSOLE_UI_DIR = join(dir, 'dist');
    const deadLetters: DeadLetterOperations = {
      list: async () => ({ total: 0, items: [] }),
      get: async () => undefined,
      resend: async () => [],
      discard: async () => [],
    };
    const hash = await hashConsolePassword(PASSWORD, { cost: 10 });
    @Module({
      imports: [
        ReliableMqConsoleModule.forRoot({
          broker: { transport: { kind: 'fake', deadLetters } },
          auth: { users: [{ username: 'admin', passwordHash: hash, role: 'admin' }] },
          storeFile: join(dir, 'console.sqlite'),
          sampling: false,
        }),
      ],
    })
    class HostModule {}
    try {
      await expect(
        NestFactory.create<NestExpressApplication>(HostModule, { logger: false, abortOnError: false }),
      ).rejects.toThrow(/front-end bundle is not built .*Run `npm run build:console-ui`/);
    } finally {
      if (saved === undefined) delete process.env.RELIABLE_MQ_CONSOLE_UI_DIR;
      else process.env.RELIABLE_MQ_CONSOLE_UI_DIR = saved;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
