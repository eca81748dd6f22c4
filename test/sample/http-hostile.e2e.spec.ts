import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CARDS, bootSample, eventually, placeOrder, request, type TestSample } from './sample-harness';

/**
 * What a hostile client, or a page on another site, sends to the sample services over HTTP: input built to crash the
 * validation, declared bodies too large to wait for, and the requests a browser on another site may send to the
 * payment service's resend endpoint without asking (forms, text bodies, bodiless posts).
 */

let sample: TestSample;
beforeAll(async () => {
  sample = await bootSample();
});
afterAll(async () => {
  await sample?.stop();
});

const valid = { customerId: 'c-1', amount: 42.5, card: CARDS.ok };

function nested(depth: number): string {
  return `{"customerId":"c-1","amount":1,"card":"${CARDS.ok}","extra":${'['.repeat(depth)}${']'.repeat(depth)}}`;
}

describe('bad input is 400, never 500', () => {
  it.each([
    ['JSON nested 5,000 deep', nested(5_000), /nest/i],
    ['JSON nested 40 deep', nested(40), /nest/i],
    ['an amount of 1e-7', JSON.stringify({ ...valid, amount: 1e-7 }), /amount/],
    ['an amount of 5e-324', JSON.stringify({ ...valid, amount: 5e-324 }), /amount/],
    ['an amount of 1e+21', JSON.stringify({ ...valid, amount: 1e21 }), /amount/],
    ['a field named constructor', JSON.stringify({ ...valid, constructor: 'x' }), /constructor should not exist/],
    [
      'a field named __proto__',
      `{"customerId":"c-1","amount":1,"card":"${CARDS.ok}","__proto__":{"x":1}}`,
      /__proto__/,
    ],
    ['a field named toString', JSON.stringify({ ...valid, toString: 'x' }), /toString should not exist/],
    ['a blank customerId', JSON.stringify({ ...valid, customerId: '   ' }), /customerId/],
    ['a customerId of tabs and a newline', JSON.stringify({ ...valid, customerId: '\t\n' }), /customerId/],
    ['a customerId with a line break', JSON.stringify({ ...valid, customerId: 'c-1\n[Nest] forged' }), /customerId/],
    ['a customerId with a terminal escape', JSON.stringify({ ...valid, customerId: 'c\u001b[2J' }), /customerId/],
  ])('POST /orders with %s: 400', async (_name, body, message) => {
    const response = await request<{ statusCode: number; message: string | string[] }>(
      'POST',
      `${sample.orderUrl}/orders`,
      body,
    );
    expect(response.status).toBe(400);
    expect([response.body.message].flat().join('\n')).toMatch(message);
  });

  it.each([
    ['/orders?constructor=x', /constructor should not exist/],
    ['/orders?__proto__=x', /__proto__ should not exist/],
    ['/orders?customerId=%20%20', /customerId/],
    ['/orders?limit=1e-7', /limit/],
  ])('GET %s: 400', async (path, message) => {
    const response = await request<{ message: string | string[] }>('GET', `${sample.orderUrl}${path}`);
    expect(response.status).toBe(400);
    expect([response.body.message].flat().join('\n')).toMatch(message);
  });

  it('a resend payload nested 5,000 deep: 400', async () => {
    const response = await request('POST', `${sample.paymentUrl}/ops/dead-letters/1/resend`, nested(5_000), {
      authorization: `Bearer ${sample.opsToken}`,
    });
    expect(response.status).toBe(400);
  });

  it('a declared Content-Length over the limit is answered 413 at once, without waiting for the body', async () => {
    const { port } = new URL(sample.orderUrl);
    const started = performance.now();
    const answer = await new Promise<{ head: string; closed: boolean }>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: Number(port) });
      let received = '';
      const timer = setTimeout(() => {
        socket.destroy();
        resolve({ head: received, closed: false });
      }, 5_000);
      socket.on('error', reject);
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
      socket.on('close', () => {
        clearTimeout(timer);
        resolve({ head: received, closed: true });
      });
      socket.write(
        'POST /orders HTTP/1.1\r\nHost: sample\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n{"cust',
      );
    });
    const ms = performance.now() - started;
    console.log(
      `A declared 1 GiB body: ${answer.head.split('\r\n')[0]} after ${Math.round(ms)} ms (connection closed: ${answer.closed}).`,
    );
    expect(answer.head).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer.head).toContain('larger than the limit of 16kb');
    expect(answer.closed).toBe(true);
    expect(ms).toBeLessThan(1_000);
  });

  it('accepts a valid order after all that', async () => {
    await placeOrder(sample, valid);
  });
});

describe('the resend endpoint accepts no request a page on another site can send', () => {
  async function deadLetterOfDeclinedOrder(): Promise<{ id: number; payload: Record<string, unknown> }> {
    const orderId = await placeOrder(sample, { ...valid, card: CARDS.declined });
    let letter: { id: number; payload: Record<string, unknown> } | undefined;
    await eventually(
      async () => {
        const page = await request<{ items: Array<{ id: number; payload: Record<string, unknown> }> }>(
          'GET',
          `${sample.paymentUrl}/ops/dead-letters?orderId=${orderId}`,
        );
        letter = page.body.items[0];
        return letter !== undefined;
      },
      () => `no dead letter for order ${orderId}`,
    );
    return letter!;
  }

  it('refuses forms, text bodies and bodiless posts (415 or 401), a missing or wrong token (401); the token resends', async () => {
    const letter = await deadLetterOfDeclinedOrder();
    const url = `${sample.paymentUrl}/ops/dead-letters/${letter.id}/resend`;
    const fixed = JSON.stringify({ payload: { ...letter.payload, card: CARDS.ok } });
    const post = async (headers: Record<string, string>, body?: string): Promise<number> => {
      const response = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(5_000) });
      await response.arrayBuffer();
      return response.status;
    };
    const crossSite = {
      // What an HTML form on another site sends, with and without fields.
      'a urlencoded form': await post({ 'content-type': 'application/x-www-form-urlencoded' }, 'payload=x'),
      'an empty urlencoded form': await post({ 'content-type': 'application/x-www-form-urlencoded' }, ''),
      'a multipart form': await post(
        { 'content-type': 'multipart/form-data; boundary=x' },
        '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--x--\r\n',
      ),
      // fetch(..., { mode: 'no-cors' }) may send text/plain, or no body and no content type at all.
      'JSON sent as text/plain': await post({ 'content-type': 'text/plain' }, fixed),
      'a post without body or content type': await post({}),
      // JSON itself needs a preflight the service never grants, and the token a header no other site can set.
      'JSON without the token': await post({ 'content-type': 'application/json' }, fixed),
      'JSON with a wrong token': await post(
        { 'content-type': 'application/json', authorization: 'Bearer not-the-token' },
        fixed,
      ),
    };
    console.log(`Resend attempts without the right request: ${JSON.stringify(crossSite)}`);
    for (const [name, status] of Object.entries(crossSite)) expect([401, 415], name).toContain(status);
    const still = await request<{ status: string }>('GET', `${sample.paymentUrl}/ops/dead-letters/${letter.id}`);
    expect(still.body.status).toBe('dead');

    expect(await post({ 'content-type': 'application/json', authorization: `Bearer ${sample.opsToken}` }, fixed)).toBe(
      202,
    );
  });
});
