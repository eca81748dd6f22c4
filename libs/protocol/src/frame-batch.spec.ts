import { describe, expect, it } from 'vitest';
import { FrameDecoder } from './frame-codec';
import { FrameBatch } from './frame-batch';
import { FramedChannel, type ChannelSocket } from './framed-channel';
import type { Frame } from './protocol-frames';

class RecordingSocket implements ChannelSocket {
  destroyed = false;
  writable = true;
  writableLength = 0;
  corked = 0;
  /** Each uncorked burst: what left in one segment. */
  readonly segments: Buffer[][] = [[]];
  cork(): void {
    this.corked++;
  }
  uncork(): void {
    this.corked--;
    if (this.corked === 0) this.segments.push([]);
  }
  write(bytes: Uint8Array): boolean {
    this.segments[this.segments.length - 1]!.push(Buffer.from(bytes));
    return true;
  }
  pause(): this {
    return this;
  }
  resume(): this {
    return this;
  }
  frames(): Frame[] {
    return new FrameDecoder().push(Buffer.concat(this.segments.flat()));
  }
}

function channelOn(socket: RecordingSocket): FramedChannel {
  return new FramedChannel(socket, {
    maxFrameBytes: 1 << 20,
    unrefTimers: true,
    errors: {
      timedOut: (op) => new Error(`timed out: ${op}`),
      refused: (error) => new Error(error.code),
      unsent: (op) => new Error(`unsent: ${op}`),
    },
  });
}

const tick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve));

/** A batch of numbers written as one `n` notification each flush. */
function numbers(channel: FramedChannel, maxItems = 100, maxBytes = Infinity): FrameBatch<number> {
  return new FrameBatch<number>(channel, { send: (items) => channel.notify('n', { items }), maxItems, maxBytes });
}

describe('FrameBatch on a FramedChannel', () => {
  it('gathers the items of one tick into one frame, sent in the same segment as the tick’s other frames', async () => {
    const socket = new RecordingSocket();
    const channel = channelOn(socket);
    const batch = numbers(channel);
    batch.add(1);
    batch.add(2);
    batch.add(3);
    expect(socket.frames()).toEqual([]);
    await tick();
    expect(socket.frames()).toEqual([{ t: 1, id: 0, op: 'n', a: { items: [1, 2, 3] } }]);
    expect(socket.segments.filter((segment) => segment.length > 0)).toHaveLength(1);
    batch.add(4);
    await tick();
    expect(socket.frames().map((frame) => (frame as { a: unknown }).a)).toEqual([{ items: [1, 2, 3] }, { items: [4] }]);
  });

  it('never lets a frame written after an item overtake it', async () => {
    const socket = new RecordingSocket();
    const channel = channelOn(socket);
    const batch = numbers(channel);
    batch.add(1);
    batch.add(2);
    channel.notify('unsubscribe', {});
    batch.add(3);
    await tick();
    expect(socket.frames().map((frame) => (frame as { op: string }).op)).toEqual(['n', 'unsubscribe', 'n']);
    expect(socket.frames().map((frame) => (frame as { a: unknown }).a)).toEqual([
      { items: [1, 2] },
      {},
      { items: [3] },
    ]);
  });

  it('keeps two batches in the order their first items came', async () => {
    const socket = new RecordingSocket();
    const channel = channelOn(socket);
    const acks = new FrameBatch<number>(channel, {
      send: (items) => channel.notify('acks', items),
      maxItems: 10,
      maxBytes: Infinity,
    });
    const publishes = new FrameBatch<number>(channel, {
      send: (items) => channel.notify('publishes', items),
      maxItems: 10,
      maxBytes: Infinity,
    });
    publishes.add(1);
    acks.add(7);
    publishes.add(2);
    await tick();
    expect(socket.frames().map((frame) => [(frame as { op: string }).op, (frame as { a: unknown }).a])).toEqual([
      ['publishes', [1, 2]],
      ['acks', [7]],
    ]);
  });

  it('sends at once when a batch reaches its item limit, and before an item would take it past its byte limit', async () => {
    const socket = new RecordingSocket();
    const channel = channelOn(socket);
    const byCount = numbers(channel, 2);
    byCount.add(1);
    byCount.add(2);
    expect(socket.frames()).toHaveLength(1);
    byCount.add(3);
    await tick();
    expect(socket.frames().map((frame) => (frame as { a: unknown }).a)).toEqual([{ items: [1, 2] }, { items: [3] }]);

    const bySize = channelOn(new RecordingSocket());
    const sent: number[][] = [];
    const sized = new FrameBatch<number>(bySize, { send: (items) => sent.push(items), maxItems: 100, maxBytes: 100 });
    sized.add(1, 60);
    sized.add(2, 30);
    sized.add(3, 30);
    expect(sent).toEqual([[1, 2]]);
    sized.add(4, 100);
    expect(sent).toEqual([[1, 2], [3], [4]]);
    await tick();
    expect(sent).toEqual([[1, 2], [3], [4]]);
  });

  it('sends nothing for a tick without items', async () => {
    const socket = new RecordingSocket();
    const channel = channelOn(socket);
    const batch = numbers(channel);
    batch.flush();
    channel.notify('ping', {});
    await tick();
    expect(socket.frames().map((frame) => (frame as { op: string }).op)).toEqual(['ping']);
  });
});
