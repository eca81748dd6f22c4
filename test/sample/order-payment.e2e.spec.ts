import { afterEach, expect, it } from 'vitest';
import {
  CARDS,
  SAMPLE_MODES,
  backdoor,
  bootSampleIn,
  deadLetterOrderIds,
  describeSampleMode,
  duplicatesSuppressed,
  eventually,
  gateway,
  ordersOf,
  paymentRowsPerOrder,
  paymentsDb,
  paymentsSql,
  placeOrder,
  request,
  type TestSample,
} from './sample-harness';

const running: TestSample[] = [];
afterEach(async () => {
  for (const sample of running.splice(0)) await sample.stop();
});

async function statusOf(sample: TestSample, id: string): Promise<string> {
  return (await request<{ status: string }>('GET', `${sample.orderUrl}/orders/${id}`)).body.status;
}

for (const mode of SAMPLE_MODES)
  describeSampleMode(mode, 'the order/payment sample, end to end', () => {
    async function boot(): Promise<TestSample> {
      const sample = await bootSampleIn(mode);
      running.push(sample);
      return sample;
    }

    it('takes each test card to its final state, with history, payments and the DLQ reason', async () => {
      const sample = await boot();
      const customerId = 'cards';
      const ok = await placeOrder(sample, { customerId, amount: 42.5, card: CARDS.ok });
      const failsTwice = await placeOrder(sample, { customerId, amount: 19.99, card: CARDS.failsTwice });
      const declined = await placeOrder(sample, { customerId, amount: 7, card: CARDS.declined });
      const overLimit = await placeOrder(sample, { customerId, amount: 10_000.01, card: CARDS.ok });
      const atLimit = await placeOrder(sample, { customerId, amount: 10_000, card: '5555555555554444' });

      await eventually(
        async () => {
          const orders = await ordersOf(sample, customerId);
          const dead = await deadLetterOrderIds(sample);
          return (
            orders.get(ok) === 'PAID' &&
            orders.get(failsTwice) === 'PAID' &&
            orders.get(atLimit) === 'PAID' &&
            orders.get(overLimit) === 'FAILED' &&
            dead.has(declined)
          );
        },
        async () => JSON.stringify([...(await ordersOf(sample, customerId))]),
      );

      // The declined card: PENDING, in the payment group's DLQ with the reason, nothing charged or recorded.
      expect(await statusOf(sample, declined)).toBe('PENDING');
      const reason = (await deadLetterOrderIds(sample)).get(declined)!;
      expect(reason).toContain('NonRetryableError');
      expect(reason).toContain('card ending 0002 was declined');
      expect((await request('GET', `${sample.paymentUrl}/payments?orderId=${declined}`)).body).toEqual({ items: [] });

      // The card that fails twice: three deliveries, visible in the payment and in the gateway's calls.
      const transient = await request<{ items: Array<{ status: string; attempts: number }> }>(
        'GET',
        `${sample.paymentUrl}/payments?orderId=${failsTwice}`,
      );
      expect(transient.body.items).toEqual([
        expect.objectContaining({ status: 'SUCCEEDED', attempts: 3, card: '**** 0119', amount: 19.99 }),
      ]);
      expect(gateway(sample).callsFor(failsTwice)).toBe(3);

      // The normal card: one payment, and the order's history tells what happened.
      const paid = await request<{ history: Array<{ status: string; note: string }>; card: string; amount: number }>(
        'GET',
        `${sample.orderUrl}/orders/${ok}`,
      );
      expect(paid.body).toMatchObject({ status: 'PAID', card: '**** 4242', amount: 42.5 });
      expect(paid.body.history.map((entry) => entry.status)).toEqual(['PENDING', 'PAID']);
      expect(paid.body.history[1]!.note).toMatch(/payment\.succeeded received: payment [0-9a-f-]{36} of 42\.5/);
      const okPayments = await request<{ items: Array<{ status: string; attempts: number; gatewayChargeId: string }> }>(
        'GET',
        `${sample.paymentUrl}/payments?orderId=${ok}`,
      );
      expect(okPayments.body.items).toEqual([
        expect.objectContaining({ status: 'SUCCEEDED', attempts: 1, gatewayChargeId: expect.stringMatching(/^ch_/) }),
      ]);

      // Over the limit: refused without a charge, published as payment.failed, the order FAILED with the reason.
      const refused = await request<{ items: Array<{ status: string; reason: string; gatewayChargeId: null }> }>(
        'GET',
        `${sample.paymentUrl}/payments?orderId=${overLimit}`,
      );
      expect(refused.body.items).toEqual([
        expect.objectContaining({
          status: 'REFUSED',
          gatewayChargeId: null,
          reason: 'amount 10000.01 is above the limit of 10000',
        }),
      ]);
      expect(gateway(sample).callsFor(overLimit)).toBe(0);
      const failed = await request<{ history: Array<{ status: string; note: string }> }>(
        'GET',
        `${sample.orderUrl}/orders/${overLimit}`,
      );
      expect(failed.body.history.at(-1)).toMatchObject({
        status: 'FAILED',
        note: expect.stringContaining('above the limit'),
      });

      expect([...(await paymentRowsPerOrder(sample)).values()].every((count) => count === 1)).toBe(true);
    });

    it('charges once when two copies of one order.created arrive together', async () => {
      const sample = await boot();
      const before = await duplicatesSuppressed(sample);
      const order = { customerId: 'twice', amount: 12.34, card: CARDS.ok };
      const id = await placeOrder(sample, order);
      // A second copy with its own message id, as a producer retry would make, published while the first is in flight.
      await backdoor(sample).publish('order.created', id, JSON.stringify({ orderId: id, ...order }));

      await eventually(
        async () => (await statusOf(sample, id)) === 'PAID' && (await duplicatesSuppressed(sample)) === before + 1,
        async () => `status ${await statusOf(sample, id)}, duplicates ${await duplicatesSuppressed(sample)}`,
      );
      expect((await paymentRowsPerOrder(sample)).get(id)).toBe(1);
      expect(gateway(sample).callsFor(id)).toBe(1);
      expect(gateway(sample).chargeCount).toBe(1);
    });

    it('compensates a declined order: its dead letter resent with a fixed card pays it', async () => {
      const sample = await boot();
      const id = await placeOrder(sample, { customerId: 'compensate', amount: 99, card: CARDS.declined });
      await eventually(
        async () => (await deadLetterOrderIds(sample)).has(id),
        () => 'the dead letter',
      );
      const list = await request<{ items: Array<{ id: number; orderId: string; payload: Record<string, unknown> }> }>(
        'GET',
        `${sample.paymentUrl}/ops/dead-letters?orderId=${id}`,
      );
      const letter = list.body.items[0]!;
      expect(letter.payload).toEqual({ orderId: id, customerId: 'compensate', amount: 99, card: CARDS.declined });

      const ops = { authorization: `Bearer ${sample.opsToken}` };
      const otherOrder = await request(
        'POST',
        `${sample.paymentUrl}/ops/dead-letters/${letter.id}/resend`,
        { payload: { ...letter.payload, orderId: '00000000-0000-4000-8000-000000000000', card: CARDS.ok } },
        ops,
      );
      expect(otherOrder.status).toBe(400);
      expect(JSON.stringify(otherOrder.body)).toContain('payload.orderId must stay');

      const fixed = await request(
        'POST',
        `${sample.paymentUrl}/ops/dead-letters/${letter.id}/resend`,
        { payload: { ...letter.payload, card: CARDS.ok } },
        ops,
      );
      expect(fixed).toEqual({ status: 202, body: { resent: [letter.id] } });
      await eventually(
        async () => (await statusOf(sample, id)) === 'PAID',
        async () => `status ${await statusOf(sample, id)}`,
      );

      const payments = await request<{ items: unknown[] }>('GET', `${sample.paymentUrl}/payments?orderId=${id}`);
      expect(payments.body.items).toEqual([expect.objectContaining({ status: 'SUCCEEDED', card: '**** 4242' })]);
      expect((await deadLetterOrderIds(sample)).has(id)).toBe(false);
      expect((await request('POST', `${sample.paymentUrl}/ops/dead-letters/${letter.id}/resend`, {}, ops)).status).toBe(
        409,
      );
      expect((await request('POST', `${sample.paymentUrl}/ops/dead-letters/424242/resend`, {}, ops)).status).toBe(404);
    });

    it('settles a payment.succeeded left unresolved through the checker, which looks for the payment row', async () => {
      const sample = await boot();
      // Two orders that stay PENDING (declined), standing for orders whose payment process died mid-way.
      const charged = await placeOrder(sample, { customerId: 'checkback', amount: 5, card: CARDS.declined });
      const notCharged = await placeOrder(sample, { customerId: 'checkback', amount: 6, card: CARDS.declined });
      await eventually(
        async () => {
          const dead = await deadLetterOrderIds(sample);
          return dead.has(charged) && dead.has(notCharged);
        },
        () => 'both dead letters',
      );

      // `charged`: its local transaction committed the payment row, then the process died before committing the half
      // message. `notCharged`: it died before writing anything.
      const committedId = '01900000-0000-7000-8000-000000000001';
      const orphanId = '01900000-0000-7000-8000-000000000002';
      await paymentsDb(sample).query(
        paymentsSql(
          sample,
          `INSERT INTO payments (id, order_id, status, amount_cents, card_last4, gateway_charge_id, attempts, reason, message_id, created_at)
       VALUES ('p-checkback', ?, 'SUCCEEDED', 500, '4242', 'ch_test', 1, NULL, ?, ?)`,
        ),
        [charged, committedId, Date.now()],
      );
      const broker = backdoor(sample);
      const half = (messageId: string, orderId: string) =>
        broker.sendHalf(
          messageId,
          'payment.succeeded',
          orderId,
          JSON.stringify({ orderId, paymentId: 'p-checkback', amount: 5 }),
        );
      const committedHalf = await half(committedId, charged);
      const orphanHalf = await half(orphanId, notCharged);

      await eventually(
        async () =>
          (await broker.half(committedHalf))?.state === 'committed' &&
          (await broker.half(orphanHalf))?.state === 'rolled_back',
        async () => JSON.stringify([(await broker.half(committedHalf))?.state, (await broker.half(orphanHalf))?.state]),
      );
      expect(await broker.half(committedHalf)).toMatchObject({ resolvedBy: 'checkback' });
      expect(await broker.half(orphanHalf)).toMatchObject({ resolvedBy: 'checkback' });
      await eventually(
        async () => (await statusOf(sample, charged)) === 'PAID',
        async () => `status ${await statusOf(sample, charged)}`,
      );
      // The rolled-back one was never delivered: its order is still waiting for an operator.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await statusOf(sample, notCharged)).toBe('PENDING');
    });

    it('publishes every payment.succeeded as a transactional message, committed by the producer', async () => {
      const sample = await boot();
      const id = await placeOrder(sample, { customerId: 'half', amount: 3, card: CARDS.ok });
      await eventually(
        async () => (await statusOf(sample, id)) === 'PAID',
        () => 'PAID',
      );
      const payment = (
        await request<{ items: Array<{ messageId: string }> }>('GET', `${sample.paymentUrl}/payments?orderId=${id}`)
      ).body.items[0]!;
      const halves = await backdoor(sample).halvesOfMessage(payment.messageId);
      expect(halves).toEqual([
        expect.objectContaining({ topic: 'payment.succeeded', key: id, state: 'committed', resolvedBy: 'producer' }),
      ]);
    });
  });
