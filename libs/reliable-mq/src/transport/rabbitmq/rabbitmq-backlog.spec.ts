import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { describeWithService } from '../../../../../test/support/services';
import { message, rabbitMqTransportsClosedAfterEach, spec, until } from '../../../test/rabbitmq-transports';

describeWithService('rabbitmq', 'RabbitMQ transport backlog', () => {
  const transports = rabbitMqTransportsClosedAfterEach();

  it("counts the messages ready in each group's queues and in its DLQ", async () => {
    const prefix = `rmq-backlog-${randomUUID().slice(0, 8)}`;
    const transport = await transports(prefix);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const taken: string[] = [];
    await transport.subscribe(spec('orders', 'billing', { prefetch: 1 }), async (inbound) => {
      taken.push(inbound.body.toString());
      if (inbound.body.toString() === 'poison') throw Object.assign(new Error('never'), { nonRetryable: true });
      await gate;
    });
    expect(await transport.backlog()).toEqual({
      groups: [{ group: 'billing', topic: 'orders', messages: 0 }],
      deadLetters: [{ group: 'billing', messages: 0 }],
    });

    await transport.publish([message('orders', 'poison')]);
    await until(
      async () => (await transport.backlog()).deadLetters[0]!.messages === 1,
      'the poison message in the DLQ',
    );
    await transport.publish(['a', 'b', 'c'].map((body) => message('orders', body)));
    await until(() => taken.length === 2, 'the first message taken');
    // One is held by the handler (prefetch 1), unacked: RabbitMQ counts only the two still ready.
    expect(await transport.backlog()).toEqual({
      groups: [{ group: 'billing', topic: 'orders', messages: 2 }],
      deadLetters: [{ group: 'billing', messages: 1 }],
    });
    release();
    await until(async () => (await transport.backlog()).groups[0]!.messages === 0, 'the queue drained');
  });
});
