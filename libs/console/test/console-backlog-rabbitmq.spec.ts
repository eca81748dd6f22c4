import { randomUUID } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { rabbitMqBacklogSource } from '@reliable-mq/console';
import { describeWithService } from '../../../test/support/services';
import { message, rabbitMqTransportsClosedAfterEach, spec, until } from '../../reliable-mq/test/rabbitmq-transports';
import { startConsoleKit, type ConsoleKit } from './console-test-kit';

/**
 * The Backlog page on RabbitMQ: the ready messages of each group queue as the lag, what RabbitMQ cannot tell shown as
 * not known, the notes on what applies there, and no action offered or accepted.
 */
describeWithService('rabbitmq', 'the Backlog page on RabbitMQ', () => {
  const transports = rabbitMqTransportsClosedAfterEach();
  let kit: ConsoleKit | undefined;
  afterEach(async () => {
    await kit?.close();
    kit = undefined;
  });

  it('shows the ready messages per group queue, says what is not known, and offers no action', async () => {
    const prefix = `rmq-console-backlog-${randomUUID().slice(0, 8)}`;
    const transport = await transports(prefix);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let taken = 0;
    await transport.subscribe(spec('quotes', 'pricing', { prefetch: 1 }), async () => {
      taken += 1;
      await gate;
    });
    await transport.subscribe(spec('quotes', 'archive', { mode: 'orderly', prefetch: 1 }), async () => undefined);
    await transport.publish(Array.from({ length: 6 }, (_, i) => message('quotes', `q${i}`, { key: `k${i}` })));
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
    // One message is held unacked by the handler: RabbitMQ counts the five still ready.
    expect(body.entries[0]).toMatchObject({
      group: 'pricing',
      topic: 'quotes',
      lag: 5,
      lagMs: null,
      consumeRatePerSec: null,
      members: null,
      drain: null,
    });
    expect(body.notes.join(' ')).toMatch(/cannot tell over AMQP how old/);
    expect(body.notes.join(' ')).toMatch(/Concurrent groups scale by adding instances/);
    expect(body.notes.join(' ')).toMatch(/raising queueCount declares a new set of queues/);

    const page = await kit.call('GET', '/backlog', { session: admin });
    expect(page.status).toBe(200);
    expect(page.text).toContain('not known');
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
});
