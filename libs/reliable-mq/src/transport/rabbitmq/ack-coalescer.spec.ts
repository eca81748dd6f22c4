import type { Channel, ConsumeMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { AckCoalescer } from './ack-coalescer';

/** A channel that records the frames it would send: `ack 5+` is an ack with `multiple` up to tag 5. */
function recordingChannel(): { channel: Channel; sent: string[]; close(): void } {
  const sent: string[] = [];
  let closed = false;
  const send = (frame: string): void => {
    if (closed) throw new Error('Channel closed');
    sent.push(frame);
  };
  const channel = {
    ack: (message: ConsumeMessage, allUpTo?: boolean) => send(`ack ${message.fields.deliveryTag}${allUpTo ? '+' : ''}`),
    nack: (message: ConsumeMessage, allUpTo?: boolean, requeue?: boolean) =>
      send(`nack ${message.fields.deliveryTag}${allUpTo ? '+' : ''}${requeue === false ? ' drop' : ''}`),
  } as unknown as Channel;
  return { channel, sent, close: () => (closed = true) };
}

const delivery = (tag: number): ConsumeMessage => ({ fields: { deliveryTag: tag } }) as unknown as ConsumeMessage;
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function delivered(acks: AckCoalescer, count: number): ConsumeMessage[] {
  const messages = Array.from({ length: count }, (_, index) => delivery(index + 1));
  for (const message of messages) acks.delivered(message);
  return messages;
}

describe('AckCoalescer', () => {
  it('acks the settled deliveries of one turn with one multiple ack, and nothing before the turn ends', async () => {
    const { channel, sent } = recordingChannel();
    const acks = new AckCoalescer(channel);
    const messages = delivered(acks, 4);
    for (const message of messages) acks.ack(message);
    expect(sent).toEqual([]);
    await nextTurn();
    expect(sent).toEqual(['ack 4+']);
  });

  it('never covers a delivery still held: later ones are acked on their own, and the held one alone once settled', async () => {
    const { channel, sent } = recordingChannel();
    const acks = new AckCoalescer(channel);
    const [m1, m2, m3, m4] = delivered(acks, 4);
    acks.ack(m1!);
    acks.ack(m3!);
    acks.ack(m4!);
    await nextTurn();
    expect(sent).toEqual(['ack 1+', 'ack 3', 'ack 4']);
    acks.ack(m2!);
    await nextTurn();
    // 3 and 4 were acked already: acking them again would close the channel (unknown delivery tag).
    expect(sent).toEqual(['ack 1+', 'ack 3', 'ack 4', 'ack 2+']);
  });

  it('sends a nack at once, before any later ack could cover it, and never acks that delivery', async () => {
    const { channel, sent } = recordingChannel();
    const acks = new AckCoalescer(channel);
    const [m1, m2, m3] = delivered(acks, 3);
    acks.ack(m1!);
    acks.nack(m2!);
    acks.ack(m3!);
    acks.ack(m2!);
    expect(sent).toEqual(['nack 2']);
    await nextTurn();
    expect(sent).toEqual(['nack 2', 'ack 3+']);
  });

  it('acks a message once however often it is settled', async () => {
    const { channel, sent } = recordingChannel();
    const acks = new AckCoalescer(channel);
    const [m1] = delivered(acks, 1);
    acks.ack(m1!);
    acks.ack(m1!);
    await nextTurn();
    acks.ack(m1!);
    acks.nack(m1!);
    await nextTurn();
    expect(sent).toEqual(['ack 1+']);
  });

  it('flush sends what is due at once (before the channel closes), and the end of the turn then sends nothing more', async () => {
    const { channel, sent } = recordingChannel();
    const acks = new AckCoalescer(channel);
    const [m1, m2] = delivered(acks, 2);
    acks.ack(m2!);
    acks.flush();
    expect(sent).toEqual(['ack 2']);
    acks.ack(m1!);
    acks.flush();
    await nextTurn();
    expect(sent).toEqual(['ack 2', 'ack 1+']);
  });

  it('acks a message it was not told about on its own, at once', () => {
    const { channel, sent } = recordingChannel();
    const acks = new AckCoalescer(channel);
    acks.ack(delivery(7));
    expect(sent).toEqual(['ack 7']);
  });

  it('ignores a channel that closed meanwhile (RabbitMQ requeues what was not acked)', async () => {
    const { channel, sent, close } = recordingChannel();
    const acks = new AckCoalescer(channel);
    const [m1, m2] = delivered(acks, 2);
    acks.ack(m1!);
    close();
    await nextTurn();
    expect(() => acks.nack(m2!)).not.toThrow();
    expect(sent).toEqual([]);
  });

  it('keeps memory bounded while one delivery is held for long and thousands after it are acked', async () => {
    const { channel, sent } = recordingChannel();
    const acks = new AckCoalescer(channel);
    const held = delivery(1);
    acks.delivered(held);
    for (let tag = 2; tag <= 10_001; tag++) {
      const message = delivery(tag);
      acks.delivered(message);
      acks.ack(message);
      if (tag % 100 === 0) acks.flush();
    }
    acks.flush();
    expect(sent).toHaveLength(10_000);
    expect((acks as unknown as { outstanding: unknown[] }).outstanding.length).toBeLessThan(5000);
    acks.ack(held);
    await nextTurn();
    expect(sent.at(-1)).toBe('ack 1+');
  });
});
