// `npm run demo`: a bounded stream of mixed orders against the sample, with a live summary line.
import 'reflect-metadata';
import { readSampleConfig } from './sample-config';
import { startSample, type Sample } from './sample';

type Kind = 'ok' | 'failsTwice' | 'declined' | 'overLimit';

const CARDS: Record<Kind, string> = {
  ok: '4242424242424242',
  failsTwice: '4000000000000119',
  declined: '4000000000000002',
  overLimit: '4242424242424242',
};

/** What each kind should end as. */
const EXPECTED: Record<Kind, string> = {
  ok: 'PAID',
  failsTwice: 'PAID (after 2 retries)',
  declined: 'PENDING, in the DLQ',
  overLimit: 'FAILED',
};

/** Ten orders: six normal, two that fail twice, one declined, one over the limit. */
const PATTERN: Kind[] = ['ok', 'ok', 'failsTwice', 'ok', 'overLimit', 'ok', 'declined', 'ok', 'failsTwice', 'ok'];

interface DemoSettings {
  orders: number;
  ratePerSecond: number;
  duplicates: number;
  timeoutMs: number;
}

interface Placed {
  id: string;
  kind: Kind;
}

interface Snapshot {
  status: Map<string, string>;
  inDlq: Set<string>;
  duplicates: number;
}

function integerSetting(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    console.error(`${name} must be an integer from ${min} to ${max}; got ${JSON.stringify(raw)}.`);
    process.exit(2);
  }
  return value;
}

function readDemoSettings(): DemoSettings {
  const orders = integerSetting('DEMO_ORDERS', 40, 1, 500);
  return {
    orders,
    ratePerSecond: integerSetting('DEMO_RATE', 10, 1, 200),
    duplicates: integerSetting('DEMO_DUPLICATES', Math.min(5, orders), 0, orders),
    timeoutMs: integerSetting('DEMO_TIMEOUT_S', 90, 5, 3600) * 1000,
  };
}

async function http<T>(method: 'GET' | 'POST', url: string, body?: unknown): Promise<{ status: number; json: T }> {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(5_000),
  });
  return { status: response.status, json: (await response.json()) as T };
}

async function reachable(url: string): Promise<boolean> {
  try {
    await fetch(url, { signal: AbortSignal.timeout(1_500) });
    return true;
  } catch {
    return false;
  }
}

function amountFor(kind: Kind, index: number): number {
  if (kind === 'overLimit') return 12_000 + (index % 50) * 100;
  return Math.round((5 + ((index * 37) % 495) + (index % 100) / 100) * 100) / 100;
}

async function snapshot(orderUrl: string, paymentUrl: string, customerId: string, ids: Set<string>): Promise<Snapshot> {
  const [orders, letters, stats] = await Promise.all([
    http<{ items: Array<{ id: string; status: string }> }>(
      'GET',
      `${orderUrl}/orders?customerId=${encodeURIComponent(customerId)}&limit=500`,
    ),
    http<{ items: Array<{ orderId: string | null }> }>('GET', `${paymentUrl}/ops/dead-letters?limit=500`),
    http<{ orderCreated: { duplicates: number } }>('GET', `${paymentUrl}/ops/stats`),
  ]);
  return {
    status: new Map(orders.json.items.map((order) => [order.id, order.status])),
    inDlq: new Set(
      letters.json.items.map((letter) => letter.orderId).filter((id): id is string => id !== null && ids.has(id)),
    ),
    duplicates: stats.json.orderCreated.duplicates,
  };
}

async function main(): Promise<void> {
  const settings = readDemoSettings();
  const config = readSampleConfig(process.env);
  if (!config.ok) {
    console.error(['The demo cannot start:', ...config.errors.map((error) => `  - ${error}`)].join('\n'));
    process.exit(2);
  }
  const shownHost = config.options.host === '0.0.0.0' ? '127.0.0.1' : (config.options.host ?? '127.0.0.1');
  let orderUrl = `http://${shownHost}:${config.options.orderPort}`;
  let paymentUrl = `http://${shownHost}:${config.options.paymentPort}`;

  let started: Sample | undefined;
  if (!(await reachable(`${orderUrl}/orders?limit=1`)) || !(await reachable(`${paymentUrl}/ops/stats`))) {
    console.log(
      `No sample answers on ${orderUrl} and ${paymentUrl}: starting one in this process (data in ${config.options.dataDir}).`,
    );
    // Warnings (every retry) would break the progress line; run `npm start` in another terminal to watch the logs.
    started = await startSample({ ...config.options, logger: ['error', 'fatal'] });
    orderUrl = started.orderUrl;
    paymentUrl = started.paymentUrl;
  } else {
    console.log(`Using the sample on ${orderUrl} and ${paymentUrl}.`);
  }

  const customerId = `demo-${Date.now().toString(36)}`;
  const baseline = (await http<{ orderCreated: { duplicates: number } }>('GET', `${paymentUrl}/ops/stats`)).json
    .orderCreated.duplicates;
  console.log(
    `Placing ${settings.orders} orders at ${settings.ratePerSecond}/s as customer ${customerId} ` +
      `(per 10: 6 normal, 2 that fail twice, 1 declined, 1 over the limit), then publishing order.created again for ${settings.duplicates} paid ones.\n`,
  );

  const placed: Placed[] = [];
  const ids = new Set<string>();
  const republished = new Set<string>();
  const startedAt = Date.now();
  let latest: Snapshot = { status: new Map(), inDlq: new Set(), duplicates: baseline };
  let placing = true;

  const placer = (async () => {
    for (let index = 0; index < settings.orders; index++) {
      const kind = PATTERN[index % PATTERN.length]!;
      const response = await http<{ id: string }>('POST', `${orderUrl}/orders`, {
        customerId,
        amount: amountFor(kind, index),
        card: CARDS[kind],
      });
      if (response.status !== 201)
        throw new Error(`POST /orders answered ${response.status}: ${JSON.stringify(response.json)}`);
      placed.push({ id: response.json.id, kind });
      ids.add(response.json.id);
      const due = startedAt + ((index + 1) * 1000) / settings.ratePerSecond;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - Date.now())));
    }
    placing = false;
  })();

  const tty = process.stdout.isTTY === true;
  let lastPrinted = '';
  let lastPrintedAt = 0;
  const render = (final = false): void => {
    let paid = 0;
    let failed = 0;
    let pending = 0;
    for (const order of placed) {
      const status = latest.status.get(order.id) ?? 'PENDING';
      if (status === 'PAID') paid++;
      else if (status === 'FAILED') failed++;
      else if (!latest.inDlq.has(order.id)) pending++;
    }
    const seconds = ((Date.now() - startedAt) / 1000).toFixed(1);
    const line =
      `placed ${placed.length}/${settings.orders} | paid ${paid} | failed ${failed} | in DLQ ${latest.inDlq.size} | pending ${pending} | ` +
      `duplicates suppressed ${latest.duplicates - baseline}/${republished.size} | ${seconds}s`;
    if (tty) {
      process.stdout.write(`\r\x1b[2K${line}${final ? '\n' : ''}`);
    } else if (
      final ||
      (line.replace(/ \| [0-9.]+s$/, '') !== lastPrinted.replace(/ \| [0-9.]+s$/, '') &&
        Date.now() - lastPrintedAt >= 1_000)
    ) {
      console.log(line);
      lastPrinted = line;
      lastPrintedAt = Date.now();
    }
  };

  const settled = (): boolean =>
    !placing &&
    placed.every((order) => {
      const status = latest.status.get(order.id);
      return status === 'PAID' || status === 'FAILED' || latest.inDlq.has(order.id);
    }) &&
    republished.size ===
      Math.min(settings.duplicates, placed.filter((order) => latest.status.get(order.id) === 'PAID').length) &&
    latest.duplicates - baseline >= republished.size;

  let placerError: unknown;
  placer.catch((error: unknown) => {
    placerError = error;
    placing = false;
  });

  let timedOut = false;
  while (!settled()) {
    if (placerError) break;
    if (Date.now() - startedAt > settings.timeoutMs) {
      timedOut = true;
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    latest = await snapshot(orderUrl, paymentUrl, customerId, ids);
    for (const order of placed) {
      if (republished.size >= settings.duplicates) break;
      if (latest.status.get(order.id) !== 'PAID' || republished.has(order.id)) continue;
      const response = await http('POST', `${orderUrl}/orders/${order.id}/republish`);
      if (response.status === 202) republished.add(order.id);
    }
    render();
  }
  render(true);

  console.log('\nBy card:');
  for (const kind of ['ok', 'failsTwice', 'declined', 'overLimit'] as Kind[]) {
    const mine = placed.filter((order) => order.kind === kind);
    const matching = mine.filter((order) => {
      const status = latest.status.get(order.id);
      if (kind === 'overLimit') return status === 'FAILED';
      if (kind === 'declined') return status === 'PENDING' && latest.inDlq.has(order.id);
      return status === 'PAID';
    });
    const label = { ok: 'normal card', failsTwice: 'fails twice', declined: 'declined', overLimit: 'over 10,000' }[
      kind
    ];
    console.log(
      `  ${label.padEnd(12)} ${String(matching.length).padStart(3)}/${String(mine.length).padEnd(3)} ${EXPECTED[kind]}`,
    );
  }
  const stillPending = placed.filter(
    (order) => (latest.status.get(order.id) ?? 'PENDING') === 'PENDING' && !latest.inDlq.has(order.id),
  );
  if (placerError) console.log(`\nPlacing orders failed: ${(placerError as Error).message}`);
  if (timedOut)
    console.log(
      `\nStopped after ${settings.timeoutMs / 1000}s with ${stillPending.length} order(s) still pending, e.g. ${orderUrl}/orders/${stillPending[0]?.id ?? ''}`,
    );
  if (latest.inDlq.size > 0) {
    console.log(
      `\n${latest.inDlq.size} declined order(s) wait in the payment DLQ, their orders PENDING. To compensate one` +
        `${started ? ' (with the sample running: npm start)' : ''}: npm run dlq, then npm run dlq -- resend <id> --card 4242424242424242. ` +
        'See docs/sample.md.',
    );
  }
  if (started) await started.close();
  process.exit(placerError || timedOut ? 1 : 0);
}

main().catch((error: unknown) => {
  console.error('\nThe demo failed:', error);
  process.exit(1);
});
