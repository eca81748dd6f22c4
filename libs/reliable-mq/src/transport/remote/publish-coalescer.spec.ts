import { describe, expect, it } from 'vitest';
import { UnknownTopicError } from '@reliable-mq/engine';
import { ClientOp, type BatchScheduler, type WireMessage } from '@reliable-mq/protocol';
import { TransportError } from '../../errors/transport.error';
import { PublishCoalescer } from './publish-coalescer';

/** Flushes what was scheduled when the test says so, as a channel does at the end of a tick. */
class ManualScheduler implements BatchScheduler {
  private batches: Array<{ flush(): void }> = [];
  schedule(batch: { flush(): void }): void {
    this.batches.push(batch);
  }
  tick(): void {
    for (const batch of this.batches.splice(0)) batch.flush();
  }
}

const message = (id: string): WireMessage => ({ id, topic: 't', body: Buffer.from(id) });
const confirm = (id: string) => ({ id, duplicate: false, queueId: 0, offset: 1 });

function rig(answer: (op: string, args: unknown) => Promise<unknown>, maxFrameBytes = 10_000) {
  const scheduler = new ManualScheduler();
  const calls: Array<{ op: string; args: unknown }> = [];
  const coalescer = new PublishCoalescer(
    scheduler,
    (op, args) => {
      calls.push({ op, args });
      return answer(op, args);
    },
    maxFrameBytes,
  );
  return { scheduler, calls, coalescer };
}

describe('PublishCoalescer', () => {
  it('sends the publishes of one tick as one publish.batch and settles each with its own result', async () => {
    const { scheduler, calls, coalescer } = rig(async () => ({
      results: [
        { confirms: [confirm('a')] },
        { error: { code: 'UNKNOWN_TOPIC', name: 'UnknownTopicError', message: 'no topic', details: { topic: 'x' } } },
        { confirms: [confirm('c'), confirm('d')] },
      ],
    }));
    const first = coalescer.publish([message('a')], 10);
    const second = coalescer.publish([message('b')], 10);
    const third = coalescer.publish([message('c'), message('d')], 20);
    expect(calls).toEqual([]);
    scheduler.tick();
    expect(calls).toEqual([
      {
        op: ClientOp.PUBLISH_BATCH,
        args: {
          calls: [
            { messages: [message('a')] },
            { messages: [message('b')] },
            { messages: [message('c'), message('d')] },
          ],
        },
      },
    ]);
    await expect(first).resolves.toEqual({ confirms: [confirm('a')] });
    await expect(second).rejects.toBeInstanceOf(UnknownTopicError);
    await expect(third).resolves.toEqual({ confirms: [confirm('c'), confirm('d')] });
  });

  it('sends a lone publish as a plain publish call', async () => {
    const { scheduler, calls, coalescer } = rig(async () => ({ confirms: [confirm('a')] }));
    const only = coalescer.publish([message('a')], 10);
    scheduler.tick();
    expect(calls).toEqual([{ op: ClientOp.PUBLISH, args: { messages: [message('a')] } }]);
    await expect(only).resolves.toEqual({ confirms: [confirm('a')] });
  });

  it('fails every publish of a frame that failed, and of an answer that does not match the frame', async () => {
    const lost = new Error('connection lost');
    const failing = rig(async () => {
      throw lost;
    });
    const both = [failing.coalescer.publish([message('a')], 1), failing.coalescer.publish([message('b')], 1)];
    failing.scheduler.tick();
    for (const publish of both) await expect(publish).rejects.toBe(lost);

    const mismatched = rig(async () => ({ results: [{ confirms: [confirm('a')] }] }));
    const two = [mismatched.coalescer.publish([message('a')], 1), mismatched.coalescer.publish([message('b')], 1)];
    mismatched.scheduler.tick();
    for (const publish of two) await expect(publish).rejects.toBeInstanceOf(TransportError);
  });

  it('starts a new frame before the publishes would pass the frame budget', async () => {
    const { scheduler, calls, coalescer } = rig(
      async (op, args) =>
        op === ClientOp.PUBLISH
          ? { confirms: [confirm('x')] }
          : { results: (args as { calls: unknown[] }).calls.map(() => ({ confirms: [confirm('x')] })) },
      100,
    );
    const sent = [
      coalescer.publish([message('a')], 60),
      coalescer.publish([message('b')], 30),
      coalescer.publish([message('c')], 30),
    ];
    scheduler.tick();
    expect(calls.map(({ op }) => op)).toEqual([ClientOp.PUBLISH_BATCH, ClientOp.PUBLISH]);
    await Promise.all(sent);
  });
});
