import { randomUUID } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { rabbitMqBacklogSource } from '@reliable-mq/console';
import { describeWithService } from '../../../test/support/services';
import { message, rabbitMqTransportsClosedAfterEach, spec, until } from '../../reliable-mq/test/rabbitmq-transports';
import { startConsoleKit, type ConsoleKit } from './console-test-kit';

/**
 * The Backlog page on RabbitMQ: the ready messages of each group queue as the lag, the age of the oldest message the
 * process holds, what RabbitMQ cannot tell shown as not known, the notes on what applies there, and no action offered
 * or accepted.
 */
describeWithService('rabbitmq', 'the Backlog page on RabbitMQ', () => {
  const transports = rabbitMqTransportsClosedAfterEach();
  let kit: ConsoleKit | undefined;
  afterEach(async () => {
    await kit?.close();
    kit = undefined;
  });

  it('shows the ready messages and the age of the oldest held per group queue, says what is not known, and offers no action', async () => {
    const prefix = `rmq-console-backlog-${randomUUID().slice(0, 8)}`;
    const transport = await transports(prefix);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let taken = 0;
    await transport.subscribe(spec('quotes', 'pricing', { prefetch: 1 }), async () => {
      taken += 1;
      await gate;
    });
    const publishedFrom = Date.now();
    await transport.subscribe(spec('quotes', 'archive', { mode: 'orderly', prefetch: 1 }), async () => undefined);
    await transport.publish(Array.from({ length: 6 }, (_, i) => message('quotes', `q${i}`, { key: `k${i}` })));
    const publishedUntil = Date.now();
    await until(() => taken === 1, 'pricing to hold one message');

    const source = rabbitMqBacklogSource(transport);
    kit = await startConsoleKit({
      console: { broker: { transport, backlog: source, label: 'rabbitmq (test)' } },
    });
    const viewer = await kit.login('viewer');
    const admin = await kit.login('admin');
    let view = (await kit.call<{ entries: Array<Record<string, unknown>> }>('GET', '/api/backlog', { session: viewer }))
      .body;
    await until(async () => {
      view = (await kit!.call<typeof view>('GET', '/api/backlog', { session: viewer })).body;
      return view.entries.find((e) => e.group === 'archive')?.lag === 0;
    }, 'archive to drain');
    const body = view as unknown as {
      actions: Record<string, boolean>;
      notes: string[];
      entries: Array<Record<string, unknown>>;
    };
    expect(body.actions).toEqual({ expand: false, redistribute: false, reset: false });
    // One message is held unacked by the handler: RabbitMQ counts the five still ready, and this process, the
    // queue's only consumer, knows the held one's age exactly.
    expect(body.entries[0]).toMatchObject({
      group: 'pricing',
      topic: 'quotes',
      lag: 5,
      inFlight: 1,
      ageIsLowerBound: false,
      ageUnknownReason: null,
      consumeRatePerSec: 0,
      consumeRateIsLowerBound: false,
      publishRatePerSec: null,
      members: 1,
      queueCount: 1,
      drain: null,
    });
    const pricing = body.entries[0] as { oldestUnconsumedAt: number; lagMs: number };
    expect(pricing.oldestUnconsumedAt).toBeGreaterThanOrEqual(publishedFrom);
    expect(pricing.oldestUnconsumedAt).toBeLessThanOrEqual(publishedUntil);
    expect(pricing.lagMs).toBeGreaterThanOrEqual(0);
    expect(pricing.lagMs).toBeLessThan(Date.now() - publishedFrom + 1);
    expect(body.notes.join(' ')).toMatch(/the age of the oldest message this process holds unacked/);
    expect(body.notes.join(' ')).toMatch(/does not tell the publish rate over AMQP/);
    expect(body.notes.join(' ')).toMatch(/Concurrent groups scale by adding instances/);
    expect(body.notes.join(' ')).toMatch(/raising queueCount declares a new set of queues/);

    const page = await kit.call('GET', '/backlog', { session: admin });
    expect(page.status).toBe(200);
    expect(page.text).toContain('not known');
    const pricingRow = page.text.slice(page.text.indexOf('data-group="pricing"'));
    expect(pricingRow).toMatch(/data-testid="backlog-age">\s*\d+ (ms|s)\s*</);
    expect(page.text).toContain('data-testid="backlog-note"');
    expect(page.text).not.toContain('data-testid="backlog-expand-form"');
    expect(page.text).not.toContain('data-testid="backlog-reset-form"');

    const refused = await kit.call<{ message: string }>('POST', '/api/backlog/expand', {
      session: admin,
      body: { topic: 'quotes', queueCount: 8, reason: 'more consumers' },
    });
    expect(refused.status).toBe(409);
    expect(refused.body.message).toMatch(
      /This broker cannot add queues to a topic: RabbitMQ has no queue count to raise/,
    );
    const preview = await kit.call('GET', '/api/backlog/reset-preview?group=pricing&topic=quotes&at=0', {
      session: viewer,
    });
    expect(preview.status).toBe(409);
    release();
  });

  it('says "at least" when another instance consumes too, and why the age is not known where it holds nothing', async () => {
    const prefix = `rmq-console-backlog-${randomUUID().slice(0, 8)}`;
    const options = { topics: [{ name: 'quotes', queueCount: 1 }] };
    const other = await transports(prefix, options);
    const transport = await transports(prefix, options);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const held = { here: 0, there: 0 };
    const hold = (where: 'here' | 'there') => async (): Promise<void> => {
      held[where] += 1;
      await gate;
    };
    // The other instance subscribes first: it is the single active consumer of the orderly group's queue.
    await other.subscribe(spec('quotes', 'ledger', { mode: 'orderly', prefetch: 1 }), hold('there'));
    await transport.subscribe(spec('quotes', 'ledger', { mode: 'orderly', prefetch: 1 }), hold('here'));
    await other.subscribe(spec('quotes', 'pricing', { prefetch: 1 }), hold('there'));
    await transport.subscribe(spec('quotes', 'pricing', { prefetch: 1 }), hold('here'));
    try {
      await transport.publish(Array.from({ length: 4 }, (_, i) => message('quotes', `q${i}`, { key: 'one-key' })));
      await until(() => held.here === 1 && held.there === 2, 'each instance to hold its deliveries');

      kit = await startConsoleKit({
        console: { broker: { transport, backlog: rabbitMqBacklogSource(transport), label: 'rabbitmq (test)' } },
      });
      const viewer = await kit.login('viewer');
      const view = (
        await kit.call<{ entries: Array<Record<string, unknown>> }>('GET', '/api/backlog', { session: viewer })
      ).body;
      const byGroup = (group: string) => view.entries.find((entry) => entry.group === group);
      expect(byGroup('pricing')).toMatchObject({
        lag: 2,
        inFlight: 1,
        members: 2,
        ageIsLowerBound: true,
        consumeRateIsLowerBound: true,
      });
      expect(byGroup('pricing')!.lagMs).toEqual(expect.any(Number));
      expect(byGroup('ledger')).toMatchObject({ lag: 3, inFlight: 0, lagMs: null, oldestUnconsumedAt: null });
      expect(byGroup('ledger')!.ageUnknownReason).toMatch(/single active consumer is another instance/);

      const page = await kit.call('GET', '/backlog', { session: viewer });
      const row = (group: string): string => {
        const start = page.text.indexOf(`data-group="${group}"`);
        return page.text.slice(start, page.text.indexOf('</tr>', start));
      };
      expect(row('pricing')).toMatch(/data-testid="backlog-age">\s*at least \d+ (ms|s)\s*</);
      expect(row('pricing')).toMatch(/at least 0\.0/);
      expect(row('ledger')).toMatch(/not known\s*<small data-testid="backlog-age-reason">\(3 message\(s\) wait in /);
    } finally {
      release();
    }
  });
});
