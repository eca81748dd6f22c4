import { describe, expect, it } from 'vitest';
import { CardDeclinedError } from './card-declined.error';
import { FakePaymentGateway } from './fake-payment-gateway';
import { GatewayUnavailableError } from './gateway-unavailable.error';
import { TEST_CARDS } from './test-cards';

describe('FakePaymentGateway', () => {
  it('charges a normal card once per idempotency key', async () => {
    const gateway = new FakePaymentGateway();
    const first = await gateway.charge({ idempotencyKey: 'o-1', card: TEST_CARDS.ok, amountCents: 500 });
    expect(first).toMatchObject({ id: expect.stringMatching(/^ch_/), amountCents: 500, cardLast4: '4242' });
    expect(await gateway.charge({ idempotencyKey: 'o-1', card: TEST_CARDS.ok, amountCents: 500 })).toBe(first);
    expect(gateway.chargeCount).toBe(1);
    expect(gateway.callsFor('o-1')).toBe(2);
    await gateway.charge({ idempotencyKey: 'o-2', card: '5555555555554444', amountCents: 1 });
    expect(gateway.chargeCount).toBe(2);
  });

  it('times out twice on 4000000000000119, then charges', async () => {
    const gateway = new FakePaymentGateway();
    const request = { idempotencyKey: 'o-1', card: TEST_CARDS.failsTwice, amountCents: 500 };
    await expect(gateway.charge(request)).rejects.toBeInstanceOf(GatewayUnavailableError);
    await expect(gateway.charge(request)).rejects.toThrow('this was call 2');
    await expect(gateway.charge(request)).resolves.toMatchObject({ cardLast4: '0119' });
    // Counted per key: another order with the same card fails twice again.
    await expect(gateway.charge({ ...request, idempotencyKey: 'o-2' })).rejects.toBeInstanceOf(GatewayUnavailableError);
  });

  it('declines 4000000000000002 every time', async () => {
    const gateway = new FakePaymentGateway();
    for (let call = 0; call < 3; call++) {
      await expect(
        gateway.charge({ idempotencyKey: 'o-1', card: TEST_CARDS.declined, amountCents: 500 }),
      ).rejects.toEqual(
        expect.objectContaining({
          name: 'CardDeclinedError',
          code: 'do_not_honor',
          message: 'card ending 0002 was declined by the issuer (do_not_honor)',
        }),
      );
    }
    await expect(
      gateway.charge({ idempotencyKey: 'o-1', card: TEST_CARDS.declined, amountCents: 1 }),
    ).rejects.toBeInstanceOf(CardDeclinedError);
    expect(gateway.chargeCount).toBe(0);
  });
});
