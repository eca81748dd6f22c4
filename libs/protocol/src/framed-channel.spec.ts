import { describe, expect, it } from 'vitest';
import { encodeFrame } from './frame-codec';
import { FrameError } from './frame.error';
import { FramedChannel, type ChannelSocket, type FramedChannelOptions } from './framed-channel';
import { FrameType } from './protocol-constants';

/** A socket that records what is written and lets a test set how much output is queued. */
class FakeSocket implements ChannelSocket {
  destroyed = false;
  writable = true;
  writableLength = 0;
  paused = false;
  corks = 0;
  readonly written: Buffer[] = [];
  cork(): void {
    this.corks++;
  }
  uncork(): void {
    this.corks--;
  }
  write(bytes: Uint8Array): boolean {
    this.written.push(Buffer.from(bytes));
    return true;
  }
  pause(): this {
    this.paused = true;
    return this;
  }
  resume(): this {
    this.paused = false;
    return this;
  }
}

function channelOn(socket: FakeSocket, options: Partial<FramedChannelOptions> = {}): FramedChannel {
  return new FramedChannel(socket, {
    maxFrameBytes: 1024,
    unrefTimers: true,
    errors: {
      timedOut: (op, ms) => new Error(`timed out: ${op} ${ms}`),
      refused: (error, op) => new Error(`refused: ${op} ${error.code}`),
      unsent: (op) => new Error(`unsent: ${op}`),
    },
    ...options,
  });
}

const tick = (): Promise<void> => new Promise((resolve) => process.nextTick(resolve));

describe('FramedChannel', () => {
  it('matches answers to pipelined calls by id, in any order', async () => {
    const socket = new FakeSocket();
    const channel = channelOn(socket);
    const first = channel.request('a', {}, 1_000);
    const second = channel.request('b', {}, 1_000);
    expect(channel.settle({ t: FrameType.RESPONSE, id: 2, r: 'two' })).toBe('b');
    expect(channel.settle({ t: FrameType.ERROR, id: 1, e: { code: 'X', message: 'no' } })).toBe('a');
    await expect(second).resolves.toBe('two');
    await expect(first).rejects.toThrow('refused: a X');
    expect(channel.settle({ t: FrameType.RESPONSE, id: 1, r: 'late' })).toBeUndefined();
    expect(socket.written).toEqual([
      encodeFrame({ t: FrameType.REQUEST, id: 1, op: 'a', a: {} }),
      encodeFrame({ t: FrameType.REQUEST, id: 2, op: 'b', a: {} }),
    ]);
  });

  it('fails a call that gets no answer in time, one it cannot write, and every call when the connection goes', async () => {
    const socket = new FakeSocket();
    const channel = channelOn(socket);
    await expect(channel.request('slow', {}, 5)).rejects.toThrow('timed out: slow 5');
    const waiting = channel.request('pending', {}, 1_000);
    channel.rejectAll((op) => new Error(`gone: ${op}`));
    await expect(waiting).rejects.toThrow('gone: pending');
    socket.writable = false;
    await expect(channel.request('closed', {}, 1_000)).rejects.toThrow('unsent: closed');
    expect(channel.requests.size).toBe(0);
  });

  it('writes the frames of one tick under one cork', async () => {
    const socket = new FakeSocket();
    const channel = channelOn(socket);
    channel.notify('ack', { tag: 1 });
    channel.notify('ack', { tag: 2 });
    expect(socket.corks).toBe(1);
    await tick();
    expect(socket.corks).toBe(0);
    expect(socket.written).toHaveLength(2);
  });

  it('refuses output past the queue cap and says so once per refused write', () => {
    const socket = new FakeSocket();
    let overflows = 0;
    const channel = channelOn(socket, { maxQueuedBytes: 100, onOverflow: () => overflows++ });
    socket.writableLength = 101;
    expect(channel.notify('ack', {})).toBe(false);
    expect(overflows).toBe(1);
    expect(socket.written).toHaveLength(0);
  });

  it('measures how long queued output stays over a limit without shrinking', () => {
    const socket = new FakeSocket();
    const channel = channelOn(socket);
    socket.writableLength = 500;
    expect(channel.outputStalledFor(1_000, 100)).toBe(0);
    expect(channel.outputStalledFor(1_400, 100)).toBe(400);
    socket.writableLength = 300;
    expect(channel.outputStalledFor(1_500, 100)).toBe(0);
    socket.writableLength = 50;
    expect(channel.outputStalledFor(1_600, 100)).toBe(0);
  });

  it('pauses reading at the limit of calls in flight and resumes below half of it', () => {
    const socket = new FakeSocket();
    const channel = channelOn(socket, { maxIncomingInFlight: 4 });
    for (let i = 0; i < 4; i++) channel.incomingStarted();
    expect(socket.paused).toBe(true);
    expect(channel.readingHeld).toBe(true);
    channel.incomingFinished();
    channel.incomingFinished();
    expect(socket.paused).toBe(true);
    channel.incomingFinished();
    expect(socket.paused).toBe(false);
    expect(channel.incomingInFlight).toBe(1);
  });

  it('reads frames across chunks and tracks an incomplete one', () => {
    const channel = channelOn(new FakeSocket());
    const bytes = encodeFrame({ t: FrameType.EVENT, op: 'deliver', a: { n: 1 } });
    expect(channel.read(bytes.subarray(0, 3), 10)).toEqual([]);
    expect(channel.partialFrameSince).toBe(10);
    expect(channel.read(bytes.subarray(3), 20)).toEqual([{ t: FrameType.EVENT, op: 'deliver', a: { n: 1 } }]);
    expect(channel.partialFrameSince).toBeNull();
    expect(channel.lastReceivedAt).toBe(20);
  });

  it('refuses a frame over its read limit before buffering it', () => {
    const channel = channelOn(new FakeSocket(), { maxFrameBytes: 8 });
    const header = Buffer.alloc(4);
    header.writeUInt32BE(9, 0);
    expect(() => channel.read(header)).toThrow(FrameError);
  });
});
