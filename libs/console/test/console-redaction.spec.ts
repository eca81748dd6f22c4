import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashConsolePassword, hashConsoleToken } from '@reliable-mq/console';
import {
  PASSWORD,
  TOKEN,
  insertOutboxRow,
  startConsoleKit,
  until,
  type ConsoleKit,
  type Session,
} from './console-test-kit';

const CARD = '4000000000000002';
const NEW_CARD = '5555555555554444';
const EMAIL = 'ada@example.com';
const AUDITOR_TOKEN = 'rmqc_auditor-token-0123456789abcdefghijklmnop';

interface Detail {
  payload: { text: string; json?: Record<string, unknown>; redaction: string };
}

/**
 * A console with `redact: [{ path: 'card', showLast: 4 }, 'customer.email', 'items.*.iban']`, read and changed over
 * HTTP by every role and by tokens, checking that no answer and no audit entry ever carries a masked value, that
 * revealing needs the permission and a reason and is audited, and that an edit-and-retry sends the real card.
 */
/** A dead letter whose payload is plain text, not JSON, in group `short-window`. */
async function textDeadLetter(kit: ConsoleKit, text: string): Promise<number> {
  const [published] = await kit.engine.publish([{ topic: 'invoices', key: 'text-1', body: text }]);
  let id = 0;
  await until(() => {
    id = kit.engine.listDeadLetters({ messageId: published!.messageId, status: 'any' }).items[0]?.id ?? 0;
    return id > 0;
  }, 'the text message to be dead-lettered');
  return id;
}

describe('masking sensitive payload fields', () => {
  let kit: ConsoleKit;
  let viewer: Session;
  let operator: Session;
  let admin: Session;
  let auditor: Session;
  let letterId: number;
  let hiddenId: number;

  const loginAs = async (username: string): Promise<Session> => {
    const answer = await kit.call<{ csrfToken: string }>('POST', '/api/auth/login', {
      body: { username, password: PASSWORD },
    });
    expect(answer.status).toBe(200);
    return { cookie: answer.headers.get('set-cookie')!.split(';')[0]!, csrf: answer.body.csrfToken };
  };

  beforeAll(async () => {
    const hash = await hashConsolePassword(PASSWORD, { cost: 10 });
    kit = await startConsoleKit({
      engine: {
        transactionTimeoutMs: 200,
        checkIntervalMs: 100,
        transactionCheckMax: 1,
        maintenanceIntervalMs: 50,
        onWarning: () => undefined,
      },
      console: {
        redact: [{ path: 'card', showLast: 4 }, 'customer.email', 'items.*.iban'],
        auth: {
          users: [
            { username: 'admin', passwordHash: hash, role: 'admin' },
            { username: 'operator', passwordHash: hash, role: 'operator' },
            { username: 'viewer', passwordHash: hash, role: 'viewer' },
            { username: 'auditor', passwordHash: hash, role: 'operator', permissions: ['reveal'] },
          ],
          tokens: [
            { name: 'ci', tokenHash: hashConsoleToken(TOKEN), role: 'operator' },
            { name: 'auditor', tokenHash: hashConsoleToken(AUDITOR_TOKEN), role: 'viewer', permissions: ['reveal'] },
          ],
        },
      },
    });
    viewer = await kit.login('viewer');
    operator = await kit.login('operator');
    admin = await kit.login('admin');
    auditor = await loginAs('auditor');
    letterId = await kit.deadLetter({
      payload: {
        orderId: 'o-1',
        card: CARD,
        currency: 'EUR',
        customer: { email: EMAIL },
        items: [{ iban: 'DE89370400440532013000' }],
      },
    });
    hiddenId = await textDeadLetter(kit, `card ${CARD}, not JSON`);
    await insertOutboxRow(kit.dataSource, {
      id: '0190a000-0000-7000-8000-0000000000f1',
      status: 'dead',
      createdAt: Date.now() - 60_000,
      payload: JSON.stringify({ orderId: 'o-9', card: CARD }),
    });
    await kit.engine.sendHalf(
      { topic: 'orders', key: 'tx-1', body: JSON.stringify({ orderId: 'o-7', card: CARD }) },
      { producerGroup: 'checkout' },
    );
  });
  afterAll(async () => kit?.close());

  const sensitive = [CARD, EMAIL, 'DE89370400440532013000'];
  const expectNothingSensitive = (what: string, text: string): void => {
    for (const value of sensitive) expect(text, `${what} shows ${value}`).not.toContain(value);
  };

  it('masks the fields on every page and API answer, for every role and token, the last four where asked', async () => {
    const detail = await kit.call<Detail>('GET', `/api/dead-letters/${letterId}`, { session: viewer });
    expect(detail.body.payload.redaction).toBe('fields');
    expect(detail.body.payload.json).toMatchObject({
      card: '**** 0002',
      customer: { email: '****' },
      items: [{ iban: '****' }],
    });
    await until(
      async () =>
        (await kit.call<{ total: number }>('GET', '/api/transactions?state=discarded', { session: viewer })).body
          .total > 0,
      'the half message to be discarded',
    );
    const reads = [
      `/api/dead-letters/${letterId}`,
      `/api/dead-letters/${hiddenId}`,
      '/api/dead-letters?status=any',
      '/api/outbox/orders/rows?state=dead',
      '/api/outbox/orders/rows/0190a000-0000-7000-8000-0000000000f1',
      '/api/transactions?state=discarded',
      '/api/transactions?state=unresolved',
      `/dead-letters/${letterId}`,
      `/dead-letters/${hiddenId}`,
      '/outbox?service=orders&state=dead',
      '/transactions?state=discarded',
    ];
    for (const session of [viewer, operator, admin, auditor]) {
      for (const path of reads) {
        const answer = await kit.call('GET', path, { session });
        expect(answer.status, path).toBe(200);
        expectNothingSensitive(path, answer.text);
      }
    }
    for (const path of reads.filter((path) => path.startsWith('/api/'))) {
      const answer = await kit.call('GET', path, { headers: { authorization: `Bearer ${AUDITOR_TOKEN}` } });
      expect(answer.status, path).toBe(200);
      expectNothingSensitive(`${path} (token)`, answer.text);
    }
    const page = await kit.call('GET', `/dead-letters/${letterId}`, { session: viewer });
    expect(page.text).toContain('&quot;card&quot;: &quot;**** 0002&quot;');
    expect(page.text).toContain('Sensitive fields are masked: card, customer.email, items.*.iban');
    expect(page.text).not.toContain('data-testid="reveal-form"');
    // A payload that is not JSON cannot be searched for the fields: it is hidden whole.
    const hidden = await kit.call<Detail>('GET', `/api/dead-letters/${hiddenId}`, { session: admin });
    expect(hidden.body.payload.redaction).toBe('hidden');
    expect(hidden.body.payload.text).toMatch(/^\[\d+ bytes, not JSON: hidden/);
  });

  it('sends the real card when the edit keeps the mask, and the typed one when it changes it; the audit keeps masks', async () => {
    const shown = (await kit.call<Detail>('GET', `/api/dead-letters/${letterId}`, { session: operator })).body.payload
      .json!;
    // The masked card would fail the handler's DTO (12 to 19 digits): a 200 means the real value was checked.
    const kept = await kit.call('POST', `/api/dead-letters/${letterId}/retry`, {
      session: operator,
      body: { payload: { ...shown, currency: 'USD', failAgain: true }, reason: 'currency fixed' },
    });
    expect(kept.status, kept.text).toBe(200);
    let again!: number;
    await until(async () => {
      const page = await kit.call<{ items: Array<{ id: number; status: string }> }>(
        'GET',
        '/api/dead-letters?group=billing&status=dead',
        { session: operator },
      );
      again = page.body.items.find((letter) => letter.id !== letterId)?.id ?? 0;
      return again > 0;
    }, 'the edited copy to fail again');
    const sent = kit.engine.getDeadLetter(again)!;
    expect(JSON.parse(sent.body.toString('utf8'))).toMatchObject({
      card: CARD,
      currency: 'USD',
      customer: { email: EMAIL },
      items: [{ iban: 'DE89370400440532013000' }],
    });

    const shownAgain = (await kit.call<Detail>('GET', `/api/dead-letters/${again}`, { session: operator })).body.payload
      .json!;
    const typed = await kit.call('POST', `/api/dead-letters/${again}/retry`, {
      session: operator,
      body: { payload: { ...shownAgain, card: NEW_CARD, failAgain: false }, reason: 'new card' },
    });
    expect(typed.status, typed.text).toBe(200);
    await until(() => kit.handled.some((delivery) => delivery.body.toString().includes(NEW_CARD)), 'the new card');
    expect(JSON.parse(kit.handled.at(-1)!.body.toString('utf8'))).toMatchObject({ card: NEW_CARD });

    const audit = await kit.call<{ items: Array<{ action: string; details: Record<string, unknown> }> }>(
      'GET',
      '/api/audit?action=dead-letters.edit-retry',
      { session: admin },
    );
    expect(audit.body.items).toHaveLength(2);
    expectNothingSensitive('audit API', audit.text);
    expect(audit.text).not.toContain(NEW_CARD);
    expect(audit.text).toContain('**** 4444');
    expectNothingSensitive('audit page', (await kit.call('GET', '/audit', { session: viewer })).text);
    expectNothingSensitive(
      'detail audit',
      (await kit.call('GET', `/dead-letters/${letterId}`, { session: admin })).text,
    );
  });

  it('keeps outbox rows masked in the audit entry of their discard', async () => {
    const discarded = await kit.call('POST', '/api/outbox/orders/discard', {
      session: operator,
      body: { ids: ['0190a000-0000-7000-8000-0000000000f1'], reason: 'duplicate order' },
    });
    expect(discarded.status, discarded.text).toBe(200);
    const audit = await kit.call('GET', '/api/audit?action=outbox.discard', { session: admin });
    expect(audit.text).toContain('**** 0002');
    expectNothingSensitive('outbox discard audit', audit.text);
  });

  it('reveals only with the reveal permission and a reason, audits it, and shows it to that session for a while', async () => {
    for (const session of [viewer, operator, admin]) {
      const refused = await kit.call('POST', `/api/dead-letters/${letterId}/reveal`, {
        session,
        body: { reason: 'curious' },
      });
      expect(refused.status).toBe(403);
      expect(refused.text).toContain('reveal permission');
      expectNothingSensitive('refused reveal', refused.text);
    }
    const token403 = await kit.call('POST', `/api/dead-letters/${letterId}/reveal`, {
      headers: { authorization: `Bearer ${TOKEN}` },
      body: { reason: 'curious' },
    });
    expect(token403.status).toBe(403);
    const noReason = await kit.call('POST', `/api/dead-letters/${letterId}/reveal`, { session: auditor, body: {} });
    expect(noReason.status).toBe(400);
    const withoutCsrf = await kit.call('POST', `/api/dead-letters/${letterId}/reveal`, {
      session: auditor,
      csrf: false,
      body: { reason: 'chargeback dispute 4411' },
    });
    expect(withoutCsrf.status).toBe(403);

    const revealed = await kit.call<Detail & { revealedUntil: number }>(
      'POST',
      `/api/dead-letters/${letterId}/reveal`,
      { session: auditor, body: { reason: 'chargeback dispute 4411' } },
    );
    expect(revealed.status).toBe(200);
    expect(revealed.body.payload.json).toMatchObject({ card: CARD, customer: { email: EMAIL } });
    expect(revealed.body.revealedUntil).toBeGreaterThan(Date.now());
    const byToken = await kit.call<Detail>('POST', `/api/dead-letters/${letterId}/reveal`, {
      headers: { authorization: `Bearer ${AUDITOR_TOKEN}` },
      body: { reason: 'scripted export for the dispute' },
    });
    expect(byToken.body.payload.json).toMatchObject({ card: CARD });

    // The session that revealed sees the real values on the page, another session of the same user does not.
    const page = await kit.call('GET', `/dead-letters/${letterId}`, { session: auditor });
    expect(page.text).toContain(CARD);
    expect(page.text).toContain('data-testid="revealed-note"');
    const otherSession = await loginAs('auditor');
    const otherPage = await kit.call('GET', `/dead-letters/${letterId}`, { session: otherSession });
    expectNothingSensitive('another session', otherPage.text);
    expect(otherPage.text).toContain('data-testid="reveal-form"');
    // The API stays masked unless asked through reveal.
    expectNothingSensitive(
      'detail API after reveal',
      (await kit.call('GET', `/api/dead-letters/${letterId}`, { session: auditor })).text,
    );

    const audit = await kit.call<{
      items: Array<{ actor: string; reason: string; target: string; details: Record<string, unknown> }>;
    }>('GET', '/api/audit?action=payload.reveal', { session: admin });
    expect(audit.body.items.map((entry) => [entry.actor, entry.reason, entry.target])).toEqual([
      ['token:auditor', 'scripted export for the dispute', `dead-letter ${letterId}`],
      ['auditor', 'chargeback dispute 4411', `dead-letter ${letterId}`],
    ]);
    expect(audit.body.items[1]!.details.fields).toEqual(['card', 'customer.email', 'items.*.iban']);
    expectNothingSensitive('reveal audit', audit.text);
    const refusals = await kit.call<{ items: Array<{ actor: string; count: number; details: { why: string } }> }>(
      'GET',
      '/api/audit?action=access.refused',
      { session: admin },
    );
    const permissionRefusals = refusals.body.items.filter((entry) => entry.details.why === 'permission');
    expect(permissionRefusals.map((entry) => entry.actor).sort()).toEqual(['admin', 'operator', 'token:ci', 'viewer']);

    // Five minutes later the page masks again.
    kit.clock.advance(5 * 60_000 + 1000);
    const later = await kit.call('GET', `/dead-letters/${letterId}`, { session: await loginAs('auditor') });
    expectNothingSensitive('page after the reveal ran out', later.text);
  });
});
