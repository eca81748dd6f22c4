import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CARDS, bootSample, placeOrder, request, type TestSample } from './sample-harness';

let sample: TestSample;
beforeAll(async () => {
  sample = await bootSample();
});
afterAll(async () => {
  await sample?.stop();
});

const valid = { customerId: 'c-1', amount: 42.5, card: CARDS.ok };

describe('the sample answers bad input with 4xx and a reason', () => {
  it.each([
    ['no body at all', undefined, /customerId must be a string/],
    ['a missing card', { customerId: 'c-1', amount: 1 }, /card must be a string/],
    ['a missing customerId', { amount: 1, card: CARDS.ok }, /customerId must be a string/],
    ['an empty customerId', { ...valid, customerId: '' }, /customerId must not be blank/],
    ['an amount as a string', { ...valid, amount: '42.5' }, /amount must be a number/],
    ['a negative amount', { ...valid, amount: -5 }, /amount must be a positive number/],
    ['a zero amount', { ...valid, amount: 0 }, /amount must be a positive number/],
    ['three decimals', { ...valid, amount: 1.234 }, /amount must have at most two decimals/],
    ['an absurd amount', { ...valid, amount: 1e12 }, /amount must not be greater than 1000000/],
    ['a card with letters', { ...valid, card: '4242-4242-4242-4242' }, /card must be a card number of 12 to 19 digits/],
    ['a card as a number', { ...valid, card: 4242424242424242 }, /card must be a string/],
    ['an unknown field', { ...valid, status: 'PAID' }, /property status should not exist/],
    ['an array', [valid], /customerId must be a string/],
  ])('POST /orders with %s: 400', async (_name, body, message) => {
    const response = await request<{ statusCode: number; message: string[] }>(
      'POST',
      `${sample.orderUrl}/orders`,
      body,
    );
    expect(response.status).toBe(400);
    expect(response.body.statusCode).toBe(400);
    expect(response.body.message.join('\n')).toMatch(message);
  });

  it("POST /orders with malformed JSON: 400 with the parser's reason", async () => {
    const response = await request<{ message: string }>('POST', `${sample.orderUrl}/orders`, '{"customerId": "c-1",');
    expect(response.status).toBe(400);
    expect(response.body.message).toMatch(/JSON at position 21/);
  });

  it('POST /orders in an unsupported charset: 415', async () => {
    const response = await request('POST', `${sample.orderUrl}/orders`, JSON.stringify(valid), {
      'content-type': 'application/json; charset=latin1',
    });
    expect(response.status).toBe(415);
  });

  it('POST /orders with an oversized body: 413 with the limit', async () => {
    const response = await request<{ message: string }>('POST', `${sample.orderUrl}/orders`, {
      ...valid,
      customerId: 'x'.repeat(20_000),
    });
    expect(response).toEqual({
      status: 413,
      body: {
        statusCode: 413,
        error: 'Payload Too Large',
        message: 'The request body is larger than the limit of 16kb.',
      },
    });
  });

  it('accepts a valid order after all that, and reads it back', async () => {
    const id = await placeOrder(sample, valid);
    const response = await request('GET', `${sample.orderUrl}/orders/${id}`);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ id, customerId: 'c-1', amount: 42.5, card: '**** 4242' });
  });

  it.each([
    ['GET', '/orders/not-a-uuid', 400, /uuid is expected/],
    ['GET', '/orders/6f1c3c56-1d6a-4b7e-9c1e-2a4f3e8f9b10', 404, /There is no order/],
    ['GET', '/orders?limit=0', 400, /limit must not be less than 1/],
    ['GET', '/orders?limit=many', 400, /limit must be an integer/],
    ['GET', '/orders?sort=asc', 400, /property sort should not exist/],
    ['POST', '/orders/6f1c3c56-1d6a-4b7e-9c1e-2a4f3e8f9b10/republish', 404, /There is no order/],
  ])('order service: %s %s answers %i', async (method, path, status, message) => {
    const response = await request<{ message: string | string[] }>(method, `${sample.orderUrl}${path}`);
    expect(response.status).toBe(status);
    expect([response.body.message].flat().join('\n')).toMatch(message);
  });

  it('order service: republishing a PENDING order is refused with 409', async () => {
    const id = await placeOrder(sample, { ...valid, card: CARDS.declined });
    const response = await request<{ message: string }>('POST', `${sample.orderUrl}/orders/${id}/republish`);
    expect(response.status).toBe(409);
    expect(response.body.message).toMatch(/still PENDING/);
  });

  it.each([
    ['GET', '/payments', 400, /orderId must be a UUID/],
    ['GET', '/payments?orderId=42', 400, /orderId must be a UUID/],
    ['GET', '/ops/dead-letters?orderId=x', 400, /orderId must be a UUID/],
    ['GET', '/ops/dead-letters/abc', 400, /numeric string is expected/],
    ['GET', '/ops/dead-letters/777', 404, /There is no dead letter 777/],
  ])('payment service: %s %s answers %i', async (method, path, status, message) => {
    const response = await request<{ message: string | string[] }>(method, `${sample.paymentUrl}${path}`);
    expect(response.status).toBe(status);
    expect([response.body.message].flat().join('\n')).toMatch(message);
  });

  it('payment service: a resend payload must be an object', async () => {
    const response = await request<{ message: string[] }>(
      'POST',
      `${sample.paymentUrl}/ops/dead-letters/1/resend`,
      { payload: 'card=4242' },
      { authorization: `Bearer ${sample.opsToken}` },
    );
    expect(response.status).toBe(400);
    expect(response.body.message.join('\n')).toMatch(/payload must be an object/);
  });
});
