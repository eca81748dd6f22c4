import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { payloadValidatorFor } from '@reliable-mq/nestjs';
import type { ConsumerPayloadCheck } from '@reliable-mq/nestjs';
import { OrderPayloadDto, startConsoleKit, until, type ConsoleKit, type Session } from './console-test-kit';

interface AuditPage {
  items: Array<{ action: string; target: string; outcome: string; details: Record<string, unknown> | null }>;
}

/**
 * A console that knows no handler classes (as the standalone console on the remote broker) checks edits through its
 * broker source: a live consumer answers with its DTO check; when none can answer, the edit needs confirmation.
 */
describe('edit and retry checked by a live consumer through the broker source', () => {
  let kit: ConsoleKit;
  let operator: Session;
  /** What the broker source does now: ask the "live consumer" (the framework's own check), or report it away. */
  let consumerState: 'live' | 'away' | 'failing' = 'live';
  const asked: Array<{ group: string; topic: string; payload: string }> = [];
  const billing = payloadValidatorFor({ dto: OrderPayloadDto }, 'BillingConsumer.charge');

  beforeAll(async () => {
    kit = await startConsoleKit({
      console: { consumers: [], discoverConsumers: false },
      validatePayload: async (group, topic, payload): Promise<ConsumerPayloadCheck> => {
        asked.push({ group, topic, payload });
        if (consumerState === 'failing') throw new Error('Not connected to the broker');
        if (consumerState === 'away' || group !== 'billing') {
          return { status: 'unavailable', reason: `no member of group "${group}" consuming "${topic}" is connected` };
        }
        const check = await billing.check(Buffer.from(payload, 'utf8'));
        return check.valid
          ? { status: 'valid', handler: billing.handler, validation: billing.validation }
          : { status: 'invalid', errors: check.errors, handler: billing.handler, validation: billing.validation };
      },
    });
    operator = await kit.login('operator');
  });
  afterAll(async () => kit?.close());
  beforeEach(() => {
    consumerState = 'live';
    asked.length = 0;
  });

  const latestAudit = async () =>
    (await kit.call<AuditPage>('GET', '/api/audit?action=dead-letters.edit-retry', { session: operator })).body
      .items[0]!;

  it('says on the letter that edits are checked by a live consumer', async () => {
    const id = await kit.deadLetter({ key: 'detail' });
    const detail = await kit.call<{ validation: string; handler: string | null }>('GET', `/api/dead-letters/${id}`, {
      session: operator,
    });
    expect(detail.body).toMatchObject({ validation: 'live-consumer', handler: null });
    const page = await kit.call('GET', `/dead-letters/${id}`, { session: operator });
    expect(page.text).toContain('a live consumer&#39;s DTO or schema, asked through the broker');
  });

  it("refuses an edit the live consumer's DTO refuses (422, with its message) and sends nothing", async () => {
    const id = await kit.deadLetter({ key: 'remote-invalid' });
    const answer = await kit.call<{ code: string; message: string; validation: string }>(
      'POST',
      `/api/dead-letters/${id}/retry`,
      { session: operator, body: { payload: { orderId: 'o-5', card: 'abc', currency: 'EUR' } } },
    );
    expect(answer.status).toBe(422);
    expect(answer.body).toMatchObject({ code: 'EDIT_INVALID', validation: 'dto:OrderPayloadDto' });
    expect(answer.body.message).toBe(
      'The edited payload would be refused by BillingConsumer.charge: Payload failed validation against ' +
        'OrderPayloadDto: card: card must be 12 to 19 digits',
    );
    expect(asked).toEqual([
      { group: 'billing', topic: 'orders', payload: '{"orderId":"o-5","card":"abc","currency":"EUR"}' },
    ]);
    expect(kit.engine.getDeadLetter(id)!.status).toBe('dead');
  });

  it('sends an edit the live consumer accepts, and audits who checked it', async () => {
    const id = await kit.deadLetter({ key: 'remote-valid' });
    const fixed = { orderId: 'o-6', card: '4242424242424242', currency: 'EUR' };
    const answer = await kit.call('POST', `/api/dead-letters/${id}/retry`, {
      session: operator,
      body: { payload: fixed, reason: 'card corrected' },
    });
    expect(answer.status, answer.text).toBe(200);
    expect(answer.body).toEqual({ resent: [id], edited: true });
    await until(() => kit.handled.some((delivery) => delivery.key === 'remote-valid'), 'the edited message');
    const entry = await latestAudit();
    expect(entry).toMatchObject({ target: `dead-letter ${id}`, outcome: 'ok' });
    expect(entry.details).toMatchObject({
      editCheckedBy: 'live-consumer',
      editValidation: 'dto:OrderPayloadDto',
      editCheckedByHandler: 'BillingConsumer.charge',
    });
    expect(entry.details!.sentUnchecked).toBeUndefined();
  });

  it('does not send an edit no live consumer could check until the operator confirms, and audits it as unchecked', async () => {
    consumerState = 'away';
    const id = await kit.deadLetter({ key: 'remote-away' });
    const edit = { orderId: 'o-7', card: '4242424242424242', currency: 'EUR' };
    const refused = await kit.call<{ code: string; message: string; reason: string }>(
      'POST',
      `/api/dead-letters/${id}/retry`,
      { session: operator, body: { payload: edit } },
    );
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('EDIT_UNCHECKED_CONFIRMATION_REQUIRED');
    expect(refused.body.message).toContain('No live consumer of group billing could check this edit');
    expect(refused.body.message).toContain('no member of group "billing" consuming "orders" is connected');
    expect(refused.body.message).toContain('Send confirmUnchecked: true to send it unchecked.');
    expect(kit.engine.getDeadLetter(id)!.status).toBe('dead');

    const badFlag = await kit.call('POST', `/api/dead-letters/${id}/retry`, {
      session: operator,
      body: { payload: edit, confirmUnchecked: 'yes' },
    });
    expect(badFlag.status).toBe(400);
    expect(kit.engine.getDeadLetter(id)!.status).toBe('dead');

    const confirmed = await kit.call('POST', `/api/dead-letters/${id}/retry`, {
      session: operator,
      body: { payload: edit, confirmUnchecked: true, reason: 'consumer down, customer waiting' },
    });
    expect(confirmed.status, confirmed.text).toBe(200);
    await until(() => kit.handled.some((delivery) => delivery.key === 'remote-away'), 'the unchecked edit');
    const entry = await latestAudit();
    expect(entry.details).toMatchObject({
      editCheckedBy: 'unchecked',
      sentUnchecked: true,
      uncheckedReason: 'no member of group "billing" consuming "orders" is connected',
    });
  });

  it('treats a failing broker source as no check: 409 with its message', async () => {
    consumerState = 'failing';
    const id = await kit.deadLetter({ key: 'remote-failing' });
    const refused = await kit.call<{ code: string; message: string }>('POST', `/api/dead-letters/${id}/retry`, {
      session: operator,
      body: { payload: { orderId: 'o-8', card: '4242424242424242', currency: 'EUR' } },
    });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('EDIT_UNCHECKED_CONFIRMATION_REQUIRED');
    expect(refused.body.message).toContain('asking the broker failed: Not connected to the broker');
  });

  it('asks nobody for a retry without an edit, and asks after the dedup-window confirmation', async () => {
    const id = await kit.deadLetter({ key: 'remote-plain' });
    const plain = await kit.call('POST', `/api/dead-letters/${id}/retry`, { session: operator, body: {} });
    expect(plain.status).toBe(200);
    expect(asked).toEqual([]);

    const old = await kit.deadLetter({ group: 'short-window', key: 'remote-old', payload: { invoice: 1 } });
    kit.clock.advance(120_000);
    try {
      consumerState = 'away';
      const first = await kit.call<{ code: string }>('POST', `/api/dead-letters/${old}/retry`, {
        session: operator,
        body: { payload: { invoice: 2 } },
      });
      expect(first.body.code).toBe('DEDUP_WINDOW_CONFIRMATION_REQUIRED');
      expect(asked).toEqual([]);
      const second = await kit.call<{ code: string }>('POST', `/api/dead-letters/${old}/retry`, {
        session: operator,
        body: { payload: { invoice: 2 }, confirmDedupWindow: true },
      });
      expect(second.body.code).toBe('EDIT_UNCHECKED_CONFIRMATION_REQUIRED');
      const both = await kit.call('POST', `/api/dead-letters/${old}/retry`, {
        session: operator,
        body: { payload: { invoice: 2 }, confirmDedupWindow: true, confirmUnchecked: true },
      });
      expect(both.status, both.text).toBe(200);
    } finally {
      kit.clock.advance(-120_000);
    }
  });
});

describe('edit and retry with a handler known to the console', () => {
  let kit: ConsoleKit;
  let operator: Session;
  let asked = 0;

  beforeAll(async () => {
    kit = await startConsoleKit({
      validatePayload: async () => {
        asked++;
        return { status: 'unavailable', reason: 'should not be asked' };
      },
    });
    operator = await kit.login('operator');
  });
  afterAll(async () => kit?.close());

  it('uses the local DTO and never asks the broker source', async () => {
    const id = await kit.deadLetter({ key: 'local' });
    const invalid = await kit.call<{ message: string }>('POST', `/api/dead-letters/${id}/retry`, {
      session: operator,
      body: { payload: { orderId: 'o-9', card: 'abc', currency: 'EUR' } },
    });
    expect(invalid.status).toBe(422);
    expect(invalid.body.message).toContain('card must be 12 to 19 digits');
    const valid = await kit.call('POST', `/api/dead-letters/${id}/retry`, {
      session: operator,
      body: { payload: { orderId: 'o-9', card: '4242424242424242', currency: 'EUR' } },
    });
    expect(valid.status).toBe(200);
    expect(asked).toBe(0);
  });
});
