import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RetryJobService, type RetryJobView } from '@reliable-mq/console';
import { startConsoleKit, until, type ConsoleKit, type Session } from './console-test-kit';

interface Page {
  total: number;
  items: Array<{
    id: number;
    key: string;
    group: string;
    topic: string;
    status: string;
    reason: string;
    olderThanDedupWindow: boolean;
  }>;
}

interface AuditPage {
  items: Array<{
    actor: string;
    action: string;
    target: string;
    count: number;
    reason: string | null;
    outcome: string;
    details: Record<string, unknown> | null;
  }>;
}

describe('dead letters: listing, filters and detail', () => {
  let kit: ConsoleKit;
  let viewer: Session;
  const ids: number[] = [];
  let middle = 0;

  beforeAll(async () => {
    kit = await startConsoleKit();
    viewer = await kit.login('viewer');
    for (let index = 1; index <= 5; index++) {
      ids.push(
        await kit.deadLetter({
          key: `k-${index}`,
          payload: { orderId: `o-${index}`, card: '4000000000000002', currency: 'EUR' },
          headers: { 'x-trace': `trace-${index}` },
          error: index <= 3 ? `card ${index} declined` : 'gateway timeout',
        }),
      );
      if (index === 3) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        middle = Date.now();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    await kit.deadLetter({ group: 'short-window', key: 'inv-1', payload: { invoice: 1 } });
  });
  afterAll(async () => kit?.close());

  const list = (query: string) => kit.call<Page>('GET', `/api/dead-letters${query}`, { session: viewer });

  it('lists dead letters newest first, filtered by group, topic, key, message id, error text and time range', async () => {
    const all = await list('');
    expect(all.status).toBe(200);
    expect(all.body.total).toBe(6);
    expect(all.body.items[0]!.group).toBe('short-window');
    expect((await list('?group=billing')).body.total).toBe(5);
    expect((await list('?topic=invoices')).body.items.map((item) => item.key)).toEqual(['inv-1']);
    expect((await list('?key=k-2')).body.items.map((item) => item.id)).toEqual([ids[1]]);
    const letter = kit.engine.getDeadLetter(ids[3]!)!;
    expect((await list(`?messageId=${letter.originalMessageId}`)).body.items.map((item) => item.id)).toEqual([ids[3]]);
    const timeouts = await list('?error=timeout');
    expect(timeouts.body.items.map((item) => item.key).sort()).toEqual(['k-4', 'k-5']);
    expect(timeouts.body.items[0]!.reason).toContain('gateway timeout');
    expect((await list(`?group=billing&from=${middle}`)).body.items.map((item) => item.key).sort()).toEqual([
      'k-4',
      'k-5',
    ]);
    expect((await list(`?group=billing&to=${middle}`)).body.total).toBe(3);
    expect((await list(`?group=billing&from=${new Date(middle).toISOString()}`)).body.total).toBe(2);
  });

  it('paginates with limit and offset, keeping the total', async () => {
    const first = await list('?group=billing&limit=2');
    const second = await list('?group=billing&limit=2&offset=2');
    const third = await list('?group=billing&limit=2&offset=4');
    expect([first.body.total, second.body.total, third.body.total]).toEqual([5, 5, 5]);
    const seen = [...first.body.items, ...second.body.items, ...third.body.items].map((item) => item.id);
    expect(seen).toEqual([...ids].reverse());
  });

  it.each([
    ['limit=0'],
    ['limit=201'],
    ['limit=abc'],
    ['offset=-1'],
    ['offset=1.5'],
    ['from=yesterday'],
    ['from=2024-13-45'],
    ['to=%7B%7D'],
    ['status=bogus'],
    ['unknown=1'],
    ['group=%01bad'],
    [`error=${'x'.repeat(501)}`],
    ['limit=1&limit=2'],
  ])('refuses the malformed filter %s with 400', async (query) => {
    const answer = await list(`?${query}`);
    expect(answer.status).toBe(400);
    expect(typeof (answer.body as unknown as { message: unknown }).message).not.toBe('undefined');
  });

  it('shows one letter: pretty payload, headers, attempt history, last error, and what an edit is validated against', async () => {
    const answer = await kit.call<{
      payload: { encoding: string; text: string; json: unknown };
      headers: Record<string, string>;
      history: Array<{ id: number }>;
      reason: string;
      validation: string;
      handler: string;
    }>('GET', `/api/dead-letters/${ids[0]}`, { session: viewer });
    expect(answer.status).toBe(200);
    expect(answer.body.payload.encoding).toBe('json');
    expect(answer.body.payload.text).toBe(
      JSON.stringify({ orderId: 'o-1', card: '4000000000000002', currency: 'EUR' }, null, 2),
    );
    expect(answer.body.headers['x-trace']).toBe('trace-1');
    expect(answer.body.reason).toContain('card 1 declined');
    expect(answer.body.history.map((entry) => entry.id)).toEqual([ids[0]]);
    expect(answer.body.validation).toBe('dto:OrderPayloadDto');
    expect(answer.body.handler).toBe('BillingConsumer.charge');
  });

  it('answers 404 for unknown ids and 400 for ids that are not positive integers', async () => {
    expect((await kit.call('GET', '/api/dead-letters/999999', { session: viewer })).status).toBe(404);
    // Large ids are fine up to 2^53 - 1 (the RabbitMQ transport's ids are 16 digits long).
    expect((await kit.call('GET', '/api/dead-letters/1880904255419044', { session: viewer })).status).toBe(404);
    expect((await kit.call('GET', '/dead-letters/1880904255419044', { session: viewer })).status).toBe(404);
    for (const bad of ['abc', '0', '-1', '1.5', '99999999999999999999', '9007199254740993', '01', '1e3', '0x10']) {
      expect((await kit.call('GET', `/api/dead-letters/${bad}`, { session: viewer })).status, bad).toBe(400);
    }
    expect((await kit.call('GET', '/dead-letters/999999', { session: viewer })).status).toBe(404);
  });
});

describe('dead letters: retry, edit and retry, discard, with audit', () => {
  let kit: ConsoleKit;
  let operator: Session;

  beforeAll(async () => {
    kit = await startConsoleKit();
    operator = await kit.login('operator');
  });
  afterAll(async () => kit?.close());

  const audit = async (action: string) =>
    (await kit.call<AuditPage>('GET', `/api/audit?action=${action}`, { session: operator })).body.items;

  it('retries one letter as it was; only its group handles it again; a second retry is refused', async () => {
    const id = await kit.deadLetter({ key: 'retry-me' });
    const answer = await kit.call('POST', `/api/dead-letters/${id}/retry`, {
      session: operator,
      body: { reason: 'gateway fixed' },
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ resent: [id], edited: false });
    await until(() => kit.handled.some((delivery) => delivery.key === 'retry-me'), 'the resent message');
    expect(kit.engine.getDeadLetter(id)!.status).toBe('resent');
    const again = await kit.call('POST', `/api/dead-letters/${id}/retry`, { session: operator, body: {} });
    expect(again.status).toBe(409);
    const [entry] = await audit('dead-letters.retry');
    expect(entry).toMatchObject({
      actor: 'operator',
      target: `dead-letter ${id}`,
      count: 1,
      reason: 'gateway fixed',
      outcome: 'ok',
    });
    expect(entry!.details).toMatchObject({ group: 'billing', topic: 'orders', key: 'retry-me' });
  });

  it("refuses edits the handler's DTO refuses (422), leaving the letter dead, and sends a valid edit", async () => {
    const id = await kit.deadLetter({
      key: 'edit-me',
      payload: { orderId: 'o-77', card: '4000000000000002', currency: 'EUR' },
    });
    const invalid: unknown[] = [
      { orderId: 'o-77', card: 'abc', currency: 'EUR' },
      { orderId: 'o-77', card: '4242424242424242' },
      { orderId: 'nope', card: '4242424242424242', currency: 'EUR' },
      'just a string',
      null,
      [1, 2],
    ];
    for (const payload of invalid) {
      const answer = await kit.call<{ code: string; message: string }>('POST', `/api/dead-letters/${id}/retry`, {
        session: operator,
        body: { payload },
      });
      expect(answer.status, JSON.stringify(payload)).toBe(422);
      expect(answer.body.code).toBe('EDIT_INVALID');
      expect(answer.body.message).toContain('BillingConsumer.charge');
    }
    const cardMessage = await kit.call<{ message: string }>('POST', `/api/dead-letters/${id}/retry`, {
      session: operator,
      body: { payload: { orderId: 'o-77', card: 'abc', currency: 'EUR' } },
    });
    expect(cardMessage.body.message).toContain('card must be 12 to 19 digits');
    expect(kit.engine.getDeadLetter(id)!.status).toBe('dead');

    const fixed = { orderId: 'o-77', card: '4242424242424242', currency: 'EUR' };
    const answer = await kit.call('POST', `/api/dead-letters/${id}/retry`, {
      session: operator,
      body: { payload: fixed, reason: 'customer gave a new card' },
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ resent: [id], edited: true });
    await until(() => kit.handled.some((delivery) => delivery.key === 'edit-me'), 'the edited message');
    const delivered = kit.handled.find((delivery) => delivery.key === 'edit-me')!;
    expect(JSON.parse(delivered.body.toString('utf8'))).toEqual(fixed);
    const [entry] = await audit('dead-letters.edit-retry');
    expect(entry).toMatchObject({
      actor: 'operator',
      target: `dead-letter ${id}`,
      reason: 'customer gave a new card',
      count: 1,
    });
    expect(String(entry!.details!.payloadBefore)).toContain('4000000000000002');
    expect(String(entry!.details!.payloadAfter)).toContain('4242424242424242');
  });

  it('accepts any JSON edit for a handler without DTO or schema, and checks edited headers', async () => {
    const id = await kit.deadLetter({ group: 'short-window', key: 'free-form', payload: { invoice: 1 } });
    const badHeaders = await kit.call('POST', `/api/dead-letters/${id}/retry`, {
      session: operator,
      body: { headers: { 'x-a': 1 } },
    });
    expect(badHeaders.status).toBe(400);
    const notObject = await kit.call('POST', `/api/dead-letters/${id}/retry`, {
      session: operator,
      body: { headers: 'x' },
    });
    expect(notObject.status).toBe(400);
    const unknownField = await kit.call('POST', `/api/dead-letters/${id}/retry`, {
      session: operator,
      body: { payloadd: 1 },
    });
    expect(unknownField.status).toBe(400);
    const answer = await kit.call('POST', `/api/dead-letters/${id}/retry`, {
      session: operator,
      body: { payload: { invoice: 2, anything: ['goes'] }, headers: { 'x-fixed-by': 'operator' } },
    });
    expect(answer.status).toBe(200);
    await until(() => kit.handled.some((delivery) => delivery.key === 'free-form'), 'the free-form edit');
    const delivered = kit.handled.find((delivery) => delivery.key === 'free-form')!;
    expect(JSON.parse(delivered.body.toString())).toEqual({ invoice: 2, anything: ['goes'] });
    expect(delivered.headers['x-fixed-by']).toBe('operator');
  });

  it('discards only with a reason, keeps the reason on the letter and in the audit log', async () => {
    const id = await kit.deadLetter({ key: 'discard-me' });
    for (const body of [{}, { reason: '' }, { reason: '   ' }, { reason: 'x'.repeat(501) }, { reason: 42 }]) {
      const answer = await kit.call('POST', `/api/dead-letters/${id}/discard`, { session: operator, body });
      expect(answer.status, JSON.stringify(body)).toBe(400);
    }
    expect(
      (await kit.call('POST', '/api/dead-letters/discard', { session: operator, body: { ids: [], reason: 'x' } }))
        .status,
    ).toBe(400);
    const tooMany = Array.from({ length: 1001 }, (_, index) => index + 1);
    expect(
      (await kit.call('POST', '/api/dead-letters/discard', { session: operator, body: { ids: tooMany, reason: 'x' } }))
        .status,
    ).toBe(400);
    expect(
      (await kit.call('POST', '/api/dead-letters/discard', { session: operator, body: { ids: ['1'], reason: 'x' } }))
        .status,
    ).toBe(400);
    expect(
      (
        await kit.call('POST', '/api/dead-letters/discard', {
          session: operator,
          body: { ids: [id, 999999], reason: 'x' },
        })
      ).status,
    ).toBe(404);
    expect(kit.engine.getDeadLetter(id)!.status).toBe('dead');

    const answer = await kit.call('POST', `/api/dead-letters/${id}/discard`, {
      session: operator,
      body: { reason: 'duplicate order, refunded by hand' },
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ discarded: [id] });
    const letter = kit.engine.getDeadLetter(id)!;
    expect(letter).toMatchObject({ status: 'discarded', statusReason: 'duplicate order, refunded by hand' });
    expect(
      (await kit.call('POST', `/api/dead-letters/${id}/discard`, { session: operator, body: { reason: 'again' } }))
        .status,
    ).toBe(409);
    const [entry] = await audit('dead-letters.discard');
    expect(entry).toMatchObject({
      actor: 'operator',
      action: 'dead-letters.discard',
      target: `dead-letter ${id}`,
      count: 1,
      reason: 'duplicate order, refunded by hand',
      outcome: 'ok',
    });
  });

  it('keeps the attempt history of a message that died again after a retry', async () => {
    const first = await kit.deadLetter({ group: 'short-window', key: 'twice', payload: { failAgain: true } });
    expect((await kit.call('POST', `/api/dead-letters/${first}/retry`, { session: operator, body: {} })).status).toBe(
      200,
    );
    const original = kit.engine.getDeadLetter(first)!.originalMessageId;
    await until(
      () => kit.engine.listDeadLetters({ messageId: original, status: 'any' }).total === 2,
      'the second death',
    );
    const second = kit.engine.listDeadLetters({ messageId: original, status: 'dead' }).items[0]!.id;
    const answer = await kit.call<{ history: Array<{ id: number; status: string }> }>(
      'GET',
      `/api/dead-letters/${second}`,
      {
        session: operator,
      },
    );
    expect(answer.body.history.map((entry) => [entry.id, entry.status])).toEqual([
      [first, 'resent'],
      [second, 'dead'],
    ]);
    const page = await kit.call('GET', `/dead-letters/${second}`, { session: operator });
    expect(page.text).toContain('Attempt history');
    expect(page.text).toContain(`href="/console/dead-letters/${first}"`);
  });
});

describe('dead letters: the dedup-window warning', () => {
  let kit: ConsoleKit;
  let operator: Session;

  beforeAll(async () => {
    kit = await startConsoleKit();
    operator = await kit.login('operator');
  });
  afterAll(async () => kit?.close());

  it('lets a message younger than its window be retried without confirmation', async () => {
    const id = await kit.deadLetter({ group: 'short-window', key: 'young' });
    expect((await kit.call('POST', `/api/dead-letters/${id}/retry`, { session: operator, body: {} })).status).toBe(200);
  });

  it("needs explicit confirmation to retry a message older than its group's window, one or in bulk", async () => {
    const id = await kit.deadLetter({ group: 'short-window', key: 'old' });
    const other = await kit.deadLetter({ group: 'short-window', key: 'old-2' });
    const never = await kit.deadLetter({ group: 'billing', key: 'no-window' });
    kit.clock.advance(61_000);

    const listed = await kit.call<Page>('GET', '/api/dead-letters?status=dead', { session: operator });
    expect(listed.body.items.find((item) => item.id === id)!.olderThanDedupWindow).toBe(true);
    expect(listed.body.items.find((item) => item.id === never)!.olderThanDedupWindow).toBe(false);

    for (const body of [{}, { confirmDedupWindow: false }]) {
      const refused = await kit.call<{ code: string; message: string; count: number }>(
        'POST',
        `/api/dead-letters/${id}/retry`,
        {
          session: operator,
          body,
        },
      );
      expect(refused.status).toBe(409);
      expect(refused.body.code).toBe('DEDUP_WINDOW_CONFIRMATION_REQUIRED');
      expect(refused.body.message).toContain('handler will run again');
      expect(refused.body.message).toContain('short-window (1m)');
    }
    expect(
      (
        await kit.call('POST', `/api/dead-letters/${id}/retry`, {
          session: operator,
          body: { confirmDedupWindow: 'yes' },
        })
      ).status,
    ).toBe(400);
    expect(kit.engine.getDeadLetter(id)!.status).toBe('dead');

    const page = await kit.call('GET', `/dead-letters/${id}`, { session: operator });
    expect(page.text).toContain('Older than the dedup window.');

    const confirmed = await kit.call('POST', `/api/dead-letters/${id}/retry`, {
      session: operator,
      body: { confirmDedupWindow: true },
    });
    expect(confirmed.status).toBe(200);
    const entries = (await kit.call<AuditPage>('GET', `/api/audit?target=dead-letter ${id}`, { session: operator }))
      .body.items;
    expect(entries[0]!.details).toMatchObject({ dedupWindowConfirmed: true });

    const bulk = await kit.call<{ code: string; count: number }>('POST', '/api/dead-letters/retry', {
      session: operator,
      body: { filter: { group: 'short-window' } },
    });
    expect(bulk.status).toBe(409);
    expect(bulk.body).toMatchObject({ code: 'DEDUP_WINDOW_CONFIRMATION_REQUIRED', count: 1 });
    const started = await kit.call<RetryJobView>('POST', '/api/dead-letters/retry', {
      session: operator,
      body: { ids: [other], confirmDedupWindow: true },
    });
    expect(started.status).toBe(202);
    await kit.app.get(RetryJobService).settled(started.body.id);
    expect(kit.engine.getDeadLetter(other)!.status).toBe('resent');
    // A group whose dedup records never expire needs no confirmation, however old.
    expect((await kit.call('POST', `/api/dead-letters/${never}/retry`, { session: operator, body: {} })).status).toBe(
      200,
    );
  });
});

describe('dead letters: bulk retries at a rate limit, with progress and cancel', () => {
  let kit: ConsoleKit;
  let operator: Session;

  beforeAll(async () => {
    kit = await startConsoleKit({
      console: { bulkRetry: { maxMessages: 30, maxRatePerSec: 100, maxConcurrentJobs: 2 } },
    });
    operator = await kit.login('operator');
  });
  afterAll(async () => kit?.close());

  const job = async (id: string) =>
    (await kit.call<RetryJobView>('GET', `/api/jobs/${id}`, { session: operator })).body;

  it('retries everything matching a filter at the rate asked for, with visible progress and an audit trail', async () => {
    const letters: number[] = [];
    for (let index = 0; index < 12; index++)
      letters.push(await kit.deadLetter({ key: `bulk-${index}`, error: 'bulk failure' }));
    await kit.deadLetter({ key: 'not-in-filter', error: 'something else' });
    const started = Date.now();
    const answer = await kit.call<RetryJobView>('POST', '/api/dead-letters/retry', {
      session: operator,
      body: { filter: { group: 'billing', error: 'bulk failure' }, ratePerSec: 5, reason: 'bank back up' },
    });
    expect(answer.status).toBe(202);
    expect(answer.body).toMatchObject({ state: 'running', total: 12, ratePerSec: 5, createdBy: 'operator' });
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const midway = await job(answer.body.id);
    const elapsed = (Date.now() - started) / 1000;
    expect(midway.state).toBe('running');
    expect(midway.resent).toBeGreaterThan(0);
    // At most the one-message start plus 5/s since then.
    expect(midway.resent).toBeLessThanOrEqual(1 + Math.ceil(5 * elapsed));
    expect(midway.remaining).toBe(12 - midway.resent - midway.skipped - midway.failed);
    const done = await kit.app.get(RetryJobService).settled(answer.body.id);
    const took = (Date.now() - started) / 1000;
    expect(done).toMatchObject({ state: 'done', resent: 12, skipped: 0, failed: 0, remaining: 0 });
    expect(took).toBeGreaterThanOrEqual((12 - 1) / 5 - 0.2);
    for (const id of letters) expect(kit.engine.getDeadLetter(id)!.status).toBe('resent');
    expect(kit.engine.listDeadLetters({ key: 'not-in-filter' }).items[0]!.status).toBe('dead');

    const entries = (await kit.call<AuditPage>('GET', '/api/audit?action=dead-letters.', { session: operator })).body
      .items;
    const startEntry = entries.find((entry) => entry.action === 'dead-letters.bulk-retry')!;
    expect(startEntry).toMatchObject({ actor: 'operator', count: 12, reason: 'bank back up', outcome: 'ok' });
    expect(startEntry.target).toContain('error=bulk failure');
    expect(startEntry.details).toMatchObject({ ratePerSec: 5, filter: { group: 'billing', error: 'bulk failure' } });
    const finished = entries.find((entry) => entry.action === 'dead-letters.bulk-retry.finished')!;
    expect(finished).toMatchObject({ count: 12, outcome: 'ok' });
    expect(finished.details).toMatchObject({ resent: 12, total: 12 });

    const jobs = await kit.call<{ items: RetryJobView[] }>('GET', '/api/jobs', { session: operator });
    expect(jobs.body.items[0]!.id).toBe(answer.body.id);
  });

  it('stops a bulk retry when cancelled: the rest stays dead, and the cancel is audited', async () => {
    const letters: number[] = [];
    for (let index = 0; index < 10; index++)
      letters.push(await kit.deadLetter({ key: `cancel-${index}`, error: 'cancel me' }));
    const answer = await kit.call<RetryJobView>('POST', '/api/dead-letters/retry', {
      session: operator,
      body: { ids: letters, ratePerSec: 2 },
    });
    expect(answer.status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const cancelled = await kit.call<RetryJobView>('POST', `/api/jobs/${answer.body.id}/cancel`, { session: operator });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.state).toBe('cancelled');
    const settled = await kit.app.get(RetryJobService).settled(answer.body.id);
    expect(settled.resent).toBeGreaterThanOrEqual(1);
    expect(settled.resent).toBeLessThanOrEqual(5);
    await new Promise((resolve) => setTimeout(resolve, 700));
    const stillDead = letters.filter((id) => kit.engine.getDeadLetter(id)!.status === 'dead');
    expect(stillDead).toHaveLength(10 - settled.resent);
    expect((await job(answer.body.id)).resent).toBe(settled.resent);
    expect((await kit.call('POST', `/api/jobs/${answer.body.id}/cancel`, { session: operator })).status).toBe(409);
    const entries = (
      await kit.call<AuditPage>('GET', '/api/audit?action=dead-letters.bulk-retry.', { session: operator })
    ).body.items;
    expect(entries.find((entry) => entry.action === 'dead-letters.bulk-retry.cancel')).toMatchObject({
      actor: 'operator',
    });
    expect(entries.find((entry) => entry.action === 'dead-letters.bulk-retry.finished')).toMatchObject({
      outcome: 'cancelled',
      count: settled.resent,
    });
  });

  it('refuses bad bulk requests: both or neither of ids and filter, bad rates, too wide a filter, unknown ids', async () => {
    const id = await kit.deadLetter({ key: 'bad-bulk' });
    const post = (body: unknown) =>
      kit.call<{ message: string }>('POST', '/api/dead-letters/retry', { session: operator, body });
    expect((await post({ ids: [id], filter: { group: 'billing' } })).status).toBe(400);
    expect((await post({})).status).toBe(400);
    expect((await post({ ids: [id], ratePerSec: 0 })).status).toBe(400);
    expect((await post({ ids: [id], ratePerSec: 101 })).status).toBe(400);
    expect((await post({ ids: [id], ratePerSec: 'fast' })).status).toBe(400);
    expect((await post({ filter: { group: 'billing', from: 'soon' } })).status).toBe(400);
    expect((await post({ filter: { nope: 1 } })).status).toBe(400);
    expect((await post({ ids: [id, 888888] })).status).toBe(404);
    for (let index = 0; index < 30; index++) await kit.deadLetter({ key: `wide-${index}`, error: 'wide' });
    const wide = await post({ filter: { group: 'billing' } });
    expect(wide.status).toBe(422);
    expect(wide.body.message).toContain('Narrow the filter');
    expect((await kit.call('GET', '/api/jobs/not-a-uuid', { session: operator })).status).toBe(400);
    expect(
      (await kit.call('GET', '/api/jobs/00000000-0000-4000-8000-000000000000', { session: operator })).status,
    ).toBe(404);
  });

  it('runs at most the configured number of bulk retries at once', async () => {
    const a = await kit.deadLetter({ key: 'slow-a' });
    const b = await kit.deadLetter({ key: 'slow-b' });
    const c = await kit.deadLetter({ key: 'slow-c' });
    const extra = await kit.deadLetter({ key: 'slow-d' });
    const extra2 = await kit.deadLetter({ key: 'slow-e' });
    const start = (ids: number[]) =>
      kit.call<RetryJobView>('POST', '/api/dead-letters/retry', { session: operator, body: { ids, ratePerSec: 1 } });
    // Two letters each at 1/s: the second of each waits a second, so both jobs are still running.
    const first = await start([a, extra]);
    const second = await start([b, extra2]);
    const third = await start([c]);
    expect([first.status, second.status, third.status]).toEqual([202, 202, 409]);
    await kit.call('POST', `/api/jobs/${first.body.id}/cancel`, { session: operator });
    await kit.app.get(RetryJobService).settled(second.body.id);
  });
});
