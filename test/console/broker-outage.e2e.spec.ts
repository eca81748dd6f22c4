import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../support/wait-until';
import { OUTAGE_PASSWORD, startBrokerOutage, type BrokerOutage } from './broker-outage-kit';
import { logIn, type ConsoleSession } from './standalone-console-kit';

interface Overview {
  broker: { reachable: boolean; unreachableSince: number | null; unreachableReason: string | null };
  deadLetters: { total: number | null };
  outbox: {
    services: Array<{
      name: string;
      counts: { stuck: number; dead: number; pending: number } | null;
      halfMessages: { unresolved: number; discarded: number } | null;
      relay: {
        source: string;
        transportConnected: boolean;
        disconnectedSince: number | null;
        rowsHeldForBroker: number;
      } | null;
    }>;
  };
  transactions: { supported: boolean; unresolved: number | null; discarded: number | null };
}

/** `npm run console` on a broker process that goes away and comes back: the console degrades, it does not fail. */
describe('the console while its broker is unreachable', () => {
  let outage: BrokerOutage;
  let session: ConsoleSession;

  beforeAll(async () => {
    outage = await startBrokerOutage();
    session = await logIn(outage.base, 'olga', OUTAGE_PASSWORD);
  }, 120_000);
  afterAll(async () => outage?.close());

  it('shows the outboxes and database half messages with a "broker unreachable since" banner, and recovers', async () => {
    const before = await session.get<Overview>('/api/overview');
    expect(before.status).toBe(200);
    expect(before.body.broker.reachable).toBe(true);
    expect(before.body.deadLetters.total).toBe(0);

    const cutAt = Date.now();
    await outage.stopBroker();
    let overview!: { status: number; body: Overview };
    await waitUntil(
      async () => {
        overview = await session.get<Overview>('/api/overview');
        return overview.status === 200 && !overview.body.broker.reachable;
      },
      'the overview to report the broker unreachable',
      20_000,
      100,
    );
    expect(overview.body.broker.unreachableSince).toBeGreaterThanOrEqual(cutAt - 1000);
    expect(overview.body.broker.unreachableReason).toMatch(/\S/);
    expect(overview.body.deadLetters.total).toBeNull();
    expect(overview.body.transactions).toMatchObject({ supported: true, unresolved: null, discarded: null });
    // What the service database holds is still there.
    const orders = overview.body.outbox.services.find((service) => service.name === 'orders')!;
    expect(orders.counts).toMatchObject({ dead: 1, stuck: 1, pending: 1 });
    expect(orders.halfMessages).toEqual({ unresolved: 1, discarded: 1 });
    // The service runs elsewhere: the console's own connection tells the transport's state, and its pending row waits.
    expect(orders.relay).toMatchObject({ source: 'console', transportConnected: false, rowsHeldForBroker: 1 });
    expect(orders.relay!.disconnectedSince).toBe(overview.body.broker.unreachableSince);

    const page = await fetch(`${outage.base}`, { headers: { cookie: session.cookie } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    const html = await page.text();
    expect(html).toContain('Broker unreachable since');
    expect(html).toMatch(/<strong>1<\/strong> stuck, <strong>1<\/strong> dead/);
    expect(html).toContain('half messages in its database: 1 unresolved');
    expect(html).toMatch(/transport not connected since [\dZ :-]+: <strong>1<\/strong> held for the broker/);

    // A page that needs the broker says so, with the time, and the same headers: not a bare 502.
    const letters = await fetch(`${outage.base}/dead-letters`, { headers: { cookie: session.cookie } });
    expect(letters.status).toBe(503);
    expect(letters.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await letters.text()).toContain('The broker is unreachable since');
    const api = await session.get<{ message: string }>('/api/dead-letters');
    expect(api.status).toBe(503);
    expect(api.body.message).toContain('The broker is unreachable since');

    await outage.startBroker();
    await waitUntil(
      async () => {
        overview = await session.get<Overview>('/api/overview');
        return overview.status === 200 && overview.body.broker.reachable;
      },
      'the overview to see the broker again',
      30_000,
      200,
    );
    expect(overview.body.deadLetters.total).toBe(0);
    expect(await session.page('')).not.toContain('Broker unreachable since');
    expect(overview.body.outbox.services[0]!.relay).toMatchObject({ transportConnected: true, rowsHeldForBroker: 0 });
  });
});
