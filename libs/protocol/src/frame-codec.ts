import { Decoder, Encoder } from '@msgpack/msgpack';
import { DEFAULT_MAX_FRAME_BYTES, FRAME_HEADER_BYTES, FrameType, ProtocolErrorCode } from './protocol-constants';
import { FrameError } from './frame.error';
import type { Frame, WireError } from './protocol-frames';

const encoder = new Encoder({ ignoreUndefined: true });

/** The wire form of one frame: a 32-bit big-endian payload length, then the MessagePack payload. */
export function encodeFrame(frame: Frame): Buffer {
  const payload = encoder.encodeSharedRef(frame);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.byteLength);
  out.writeUInt32BE(payload.byteLength, 0);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/** Payload size of an encoded frame, for checking it against the peer's limit before sending. */
export function frameSize(encoded: Buffer): number {
  return encoded.length - FRAME_HEADER_BYTES;
}

/**
 * Turns a byte stream into frames. Memory is bounded by the frame limit: the length prefix is checked before any
 * payload byte is buffered, and a frame is copied once into a buffer of its announced size.
 */
export class FrameDecoder {
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFilled = 0;
  private body: Buffer | null = null;
  private bodyFilled = 0;
  private failed: FrameError | null = null;
  private readonly decoder: Decoder;

  constructor(readonly maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES) {
    this.decoder = new Decoder({
      // Each element takes at least one byte, so a declared count above the frame size is a lie.
      maxArrayLength: maxFrameBytes,
      maxMapLength: maxFrameBytes,
      maxStrLength: maxFrameBytes,
      maxBinLength: maxFrameBytes,
      maxExtLength: maxFrameBytes,
    });
  }

  /** True while part of a frame has arrived and the rest has not. */
  get inFrame(): boolean {
    return this.headerFilled > 0 || this.body !== null;
  }

  /** Feeds bytes; returns the frames they complete. Throws FrameError on the first invalid frame, and after it. */
  push(chunk: Buffer): Frame[] {
    if (this.failed) throw this.failed;
    const frames: Frame[] = [];
    let offset = 0;
    try {
      while (offset < chunk.length) {
        if (this.body === null) {
          const take = Math.min(FRAME_HEADER_BYTES - this.headerFilled, chunk.length - offset);
          chunk.copy(this.header, this.headerFilled, offset, offset + take);
          this.headerFilled += take;
          offset += take;
          if (this.headerFilled < FRAME_HEADER_BYTES) break;
          const length = this.header.readUInt32BE(0);
          if (length === 0) throw new FrameError(ProtocolErrorCode.BAD_FRAME, 'A frame announced an empty payload.');
          if (length > this.maxFrameBytes) {
            throw new FrameError(
              ProtocolErrorCode.FRAME_TOO_LARGE,
              `A frame announced ${length} bytes; the limit is ${this.maxFrameBytes} bytes.`,
            );
          }
          this.body = Buffer.allocUnsafe(length);
          this.bodyFilled = 0;
        }
        const take = Math.min(this.body.length - this.bodyFilled, chunk.length - offset);
        chunk.copy(this.body, this.bodyFilled, offset, offset + take);
        this.bodyFilled += take;
        offset += take;
        if (this.bodyFilled === this.body.length) {
          const payload = this.body;
          this.body = null;
          this.headerFilled = 0;
          frames.push(this.decodePayload(payload));
        }
      }
    } catch (error) {
      this.failed =
        error instanceof FrameError
          ? error
          : new FrameError(ProtocolErrorCode.BAD_FRAME, `Undecodable frame: ${String(error)}`);
      throw this.failed;
    }
    return frames;
  }

  private decodePayload(payload: Buffer): Frame {
    let value: unknown;
    try {
      value = this.decoder.decode(payload);
    } catch (error) {
      throw new FrameError(
        ProtocolErrorCode.BAD_FRAME,
        `A frame is not valid MessagePack: ${(error as Error)?.message ?? String(error)}`,
      );
    }
    return checkFrame(value);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

const isRequestId = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/** Checks the envelope of a decoded payload; the contents of `a`, `r` and `e` are checked by whoever reads them. */
export function checkFrame(value: unknown): Frame {
  const bad = (problem: string): never => {
    throw new FrameError(ProtocolErrorCode.BAD_FRAME, `A frame ${problem}.`);
  };
  if (!isPlainObject(value)) return bad('must be a MessagePack map');
  const { t, id } = value;
  switch (t) {
    case FrameType.REQUEST:
      if (!isRequestId(id)) return bad('of type REQUEST needs an `id` that is a non-negative integer');
      if (typeof value.op !== 'string' || value.op.length === 0 || value.op.length > 64)
        return bad('of type REQUEST needs an `op` string of 1–64 characters');
      return { t, id, op: value.op, a: value.a };
    case FrameType.RESPONSE:
      if (!isRequestId(id) || id === 0) return bad('of type RESPONSE needs the positive `id` of its request');
      return { t, id, r: value.r };
    case FrameType.ERROR: {
      if (!isRequestId(id)) return bad('of type ERROR needs an `id` (0 for the connection)');
      const e = value.e;
      if (!isPlainObject(e) || typeof e.code !== 'string' || typeof e.message !== 'string')
        return bad('of type ERROR needs `e` with string `code` and `message`');
      const error: WireError = {
        code: e.code,
        message: e.message,
        ...(typeof e.name === 'string' ? { name: e.name } : {}),
        ...(e.fatal === true ? { fatal: true } : {}),
        ...(isPlainObject(e.details) ? { details: e.details } : {}),
      };
      return { t, id, e: error };
    }
    case FrameType.EVENT:
      if (typeof value.op !== 'string' || value.op.length === 0 || value.op.length > 64)
        return bad('of type EVENT needs an `op` string of 1–64 characters');
      return { t, op: value.op, a: value.a };
    default:
      return bad(`has unknown type ${JSON.stringify(t) ?? String(t)}`);
  }
}
