import { afterEach, expect, it } from 'vitest';
import {
  CARDS,
  SAMPLE_MODES,
  bootSampleIn,
  describeSampleMode,
  eventually,
  placeOrder,
  request,
  type TestSample,
} from './sample-harness';

const DEMO_PASSWORD = 'demo-password-for-tests';

interface Letter {
  id: number;
  key: string;
  group: string;
  topic: string;
  reason: string;
}

const running: TestSample[] = [];
afterEach(async () => {
  for (const sample of running.splice(0)) await sample.stop();
});

for (const mode of SAMPLE_MODES) {
  describeSampleMode(mode, 'the compensation console over the sample', () => {
    it('fixes a permanently declined order: DLQ → edit the card → retry → PAID, with the audit entry', async () => {
      const sample = await bootSampleIn(mode, { console: { port: 0, password: DEMO_PASSWORD } });
      running.push(sample);
      const base = sample.console!.url;
      expect(sample.console!.username).toBe('demo');

      // Nothing without logging in; then log in with the demo login the sample prints.
      expect((await request('GET', `${base}/api/dead-letters`)).status).toBe(401);
      const login = await fetch(`${base}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'demo', password: DEMO_PASSWORD }),
      });
      expect(login.status).toBe(200);
      const { csrfToken } = (await login.json()) as { csrfToken: string };
      const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
      const auth = { cookie, 'x-csrf-token': csrfToken };

      const orderId = await placeOrder(sample, { customerId: 'console-e2e', amount: 12.5, card: CARDS.declined });
      let letter: Letter | undefined;
      await eventually(
        async () => {
          const page = await request<{ items: Letter[] }>(
            'GET',
            `${base}/api/dead-letters?group=payment-service&key=${orderId}`,
            undefined,
            auth,
          );
          letter = page.body.items[0];
          return letter !== undefined;
        },
        () => `order ${orderId} never reached the payment group's DLQ`,
      );
      expect(letter).toMatchObject({ key: orderId, topic: 'order.created' });
      expect(letter!.reason).toContain('declined');

      // The operator finds it on the dead-letters page and opens it.
      const list = await fetch(`${base}/dead-letters?key=${orderId}`, { headers: { cookie } });
      expect(list.status).toBe(200);
      const listHtml = await list.text();
      // The link to the letter, possibly carrying the list's filters to come back to.
      expect(listHtml).toMatch(new RegExp(`href="/console/dead-letters/${letter!.id}[?"]`));
      expect(listHtml).toContain(orderId);
      const detail = await request<{
        payload: { json: { card: string; orderId: string } };
        validation: string;
        handler: string;
      }>('GET', `${base}/api/dead-letters/${letter!.id}`, undefined, auth);
      // The sample's console masks card numbers, the last four shown; the edit below replaces the whole field.
      expect(detail.body.payload.json).toMatchObject({ orderId, card: `**** ${CARDS.declined.slice(-4)}` });
      expect(JSON.stringify(detail.body)).not.toContain(CARDS.declined);
      expect(detail.body.validation).toBe('dto:OrderCreatedDto');
      expect(detail.body.handler).toBe('ChargeOrderConsumer.charge');
      const detailHtml = await (await fetch(`${base}/dead-letters/${letter!.id}`, { headers: { cookie } })).text();
      expect(detailHtml).toContain('Edit and retry');
      expect(detailHtml).toContain('validated against OrderCreatedDto');

      // A typo in the card is caught by the payment service's DTO before anything is sent.
      const payload = detail.body.payload.json;
      const typo = await request<{ message: string }>(
        'POST',
        `${base}/api/dead-letters/${letter!.id}/retry`,
        { payload: { ...payload, card: '4242-4242' } },
        auth,
      );
      expect(typo.status).toBe(422);
      expect(typo.body.message).toContain('card must be a card number of 12 to 19 digits');

      const fixed = await request<{ resent: number[]; edited: boolean }>(
        'POST',
        `${base}/api/dead-letters/${letter!.id}/retry`,
        { payload: { ...payload, card: CARDS.ok }, reason: 'customer gave a new card' },
        auth,
      );
      expect(fixed.status).toBe(200);
      expect(fixed.body).toEqual({ resent: [letter!.id], edited: true });

      await eventually(
        async () =>
          (await request<{ status: string }>('GET', `${sample.orderUrl}/orders/${orderId}`)).body.status === 'PAID',
        async () => JSON.stringify((await request('GET', `${sample.orderUrl}/orders/${orderId}`)).body),
      );

      const audit = await request<{ items: Array<Record<string, unknown>> }>(
        'GET',
        `${base}/api/audit?action=dead-letters.edit-retry`,
        undefined,
        auth,
      );
      expect(audit.body.items[0]).toMatchObject({
        actor: 'demo',
        role: 'admin',
        target: `dead-letter ${letter!.id}`,
        count: 1,
        reason: 'customer gave a new card',
        outcome: 'ok',
      });
      expect(JSON.stringify(audit.body)).not.toContain(CARDS.declined);
      expect(JSON.stringify(audit.body)).not.toContain(CARDS.ok);
      const auditHtml = await (await fetch(`${base}/audit`, { headers: { cookie } })).text();
      expect(auditHtml).toContain('dead-letters.edit-retry');
      expect(auditHtml).toContain('customer gave a new card');

      const overview = await request<{
        outbox: { services: Array<{ name: string; error: string | null }> };
        deadLetters: { total: number };
      }>('GET', `${base}/api/overview`, undefined, auth);
      expect(overview.status).toBe(200);
      expect(overview.body.outbox.services.map((service) => [service.name, service.error])).toEqual([
        ['orders', null],
        ['payments', null],
      ]);
      expect(overview.body.deadLetters.total).toBe(0);
    });
  });
}
