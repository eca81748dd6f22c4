#!/usr/bin/env node
/* global fetch, AbortSignal */
// `npm run dlq`: the payment group's dead letters, through the running sample's operations endpoints.
//   npm run dlq                                   list the dead letters
//   npm run dlq -- show <id>                      one letter, with its payload
//   npm run dlq -- resend <id>                    resend it unchanged
//   npm run dlq -- resend <id> --card <number>    resend it with the card replaced (the compensation of a decline)
// The sample must be running (npm start). PAYMENT_URL, or HOST and PAYMENT_PORT, say where. A resend presents the
// operations token: OPS_TOKEN, else the one the sample keeps in DATA_DIR/ops-token (default ./data).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const host = process.env.HOST && process.env.HOST !== '0.0.0.0' ? process.env.HOST : '127.0.0.1';
const base = process.env.PAYMENT_URL ?? `http://${host}:${process.env.PAYMENT_PORT ?? 3002}`;

function opsToken() {
  if (process.env.OPS_TOKEN) return process.env.OPS_TOKEN.trim();
  const file = join(process.env.DATA_DIR ?? 'data', 'ops-token');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    fail(`No operations token: set OPS_TOKEN, or run this where the sample keeps ${file} (DATA_DIR).`);
  }
}

async function call(method, path, body) {
  let response;
  try {
    response = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json', authorization: `Bearer ${opsToken()}` },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(5_000),
    });
  } catch {
    fail(`No payment service answers on ${base}. Start the sample with npm start (or set PAYMENT_URL).`);
  }
  const json = await response.json();
  if (!response.ok) fail(`${method} ${path} answered ${response.status}: ${[json.message].flat().join('; ')}`);
  return json;
}

function fail(message) {
  console.error(message);
  process.exit(1);
}

function idArgument(value) {
  if (!/^[0-9]+$/.test(value ?? '')) fail('Give the dead letter id, as listed by `npm run dlq`.');
  return Number(value);
}

const [command = 'list', ...rest] = process.argv.slice(2);
if (command === 'list') {
  const page = await call('GET', '/ops/dead-letters?limit=500');
  if (page.total === 0) console.log('No dead letters in the payment group.');
  for (const letter of page.items) {
    console.log(
      `#${letter.id}  order ${letter.orderId}  card ${letter.payload?.card ?? '?'}  ${letter.deadAt}\n    ${letter.reason}`,
    );
  }
} else if (command === 'show') {
  console.log(JSON.stringify(await call('GET', `/ops/dead-letters/${idArgument(rest[0])}`), null, 2));
} else if (command === 'resend') {
  const id = idArgument(rest[0]);
  const cardAt = rest.indexOf('--card');
  let payload;
  if (cardAt >= 0) {
    const card = rest[cardAt + 1];
    if (!/^[0-9]{12,19}$/.test(card ?? ''))
      fail('--card needs a card number of 12 to 19 digits, e.g. 4242424242424242.');
    const letter = await call('GET', `/ops/dead-letters/${id}`);
    payload = { ...letter.payload, card };
  }
  await call('POST', `/ops/dead-letters/${id}/resend`, payload === undefined ? {} : { payload });
  console.log(
    `Dead letter #${id} resent${payload ? ` with card ${payload.card}` : ''}. Watch the order: GET /orders/<orderId> on the order service.`,
  );
} else {
  fail('Usage: npm run dlq [-- list | show <id> | resend <id> [--card <number>]]');
}
