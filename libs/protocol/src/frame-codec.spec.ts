import { encode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder } from './frame-codec';
import { FrameError } from './frame.error';
import { FrameType, ProtocolErrorCode } from './protocol-constants';
import type { Frame } from './protocol-frames';

const request: Frame = {
  t: FrameType.REQUEST,
  id: 7,
  op: 'publish',
  a: { messages: [{ id: 'a', topic: 't', body: Buffer.from('hello') }] },
};

function framed(payload: Uint8Array): Buffer {
  const out = Buffer.alloc(4 + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.set(payload, 4);
  return out;
}

describe('frame codec', () => {
  it('round-trips a frame, binary bodies included', () => {
    const [frame] = new FrameDecoder().push(encodeFrame(request));
    expect(frame).toMatchObject({ t: 1, id: 7, op: 'publish' });
    const body = (frame as { a: { messages: Array<{ body: Uint8Array }> } }).a.messages[0]!.body;
    expect(Buffer.from(body).toString()).toBe('hello');
  });

  it('reassembles frames split at every byte, and several frames in one chunk', () => {
    const bytes = Buffer.concat([encodeFrame(request), encodeFrame({ t: FrameType.RESPONSE, id: 7, r: { ok: true } })]);
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    for (let at = 0; at < bytes.length; at++) frames.push(...decoder.push(bytes.subarray(at, at + 1)));
    expect(frames.map((frame) => frame.t)).toEqual([FrameType.REQUEST, FrameType.RESPONSE]);
    expect(decoder.inFrame).toBe(false);
    expect(new FrameDecoder().push(bytes)).toHaveLength(2);
  });

  it('refuses an oversized frame from its length prefix, before buffering any of it', () => {
    const decoder = new FrameDecoder(1024);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1025, 0);
    expect(() => decoder.push(header)).toThrow(FrameError);
    try {
      decoder.push(Buffer.alloc(1));
    } catch (error) {
      expect((error as FrameError).code).toBe(ProtocolErrorCode.FRAME_TOO_LARGE);
    }
  });

  it.each([
    ['an empty payload', Buffer.alloc(4)],
    ['bytes that are not MessagePack', framed(Buffer.from([0xc1]))],
    ['a payload with trailing bytes', framed(Buffer.concat([Buffer.from(encode({ t: 2, id: 1 })), Buffer.from([0])]))],
    ['an array payload', framed(encode([1, 2]))],
    ['a map without a type', framed(encode({ id: 1 }))],
    ['a response without an id', framed(encode({ t: 2 }))],
    ['an error without a code', framed(encode({ t: 3, id: 0, e: { message: 'x' } }))],
    ['an event without an op', framed(encode({ t: 4 }))],
    ['a fractional request id', framed(encode({ t: 1, id: 1.5, op: 'ping' }))],
    ['an array claiming four billion elements', framed(Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]))],
  ])('refuses %s with BAD_FRAME and stays failed', (_name, bytes) => {
    const decoder = new FrameDecoder();
    let caught: unknown;
    try {
      decoder.push(bytes);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(FrameError);
    expect((caught as FrameError).code).toBe(ProtocolErrorCode.BAD_FRAME);
    expect(() => decoder.push(encodeFrame(request))).toThrow(FrameError);
  });

  it('keeps the optional parts of an error frame only when they have the right types', () => {
    const [frame] = new FrameDecoder().push(
      framed(encode({ t: 3, id: 4, e: { code: 'X', message: 'm', fatal: 'yes', details: 5, name: 'N' } })),
    );
    expect(frame).toEqual({ t: 3, id: 4, e: { code: 'X', message: 'm', name: 'N' } });
  });
});
