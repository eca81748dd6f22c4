import {
  FRAME_HEADER_BYTES,
  FrameError,
  MAX_HELLO_FRAME_BYTES,
  ProtocolErrorCode,
  type FramedChannel,
  type Frame,
} from '@reliable-mq/protocol';

/**
 * Reads a connection's first frame, before its hello is answered. The frame's length prefix is checked against a
 * hello's before anything is buffered (a peer without the token gets a hello's worth of memory, not a frame limit's),
 * and reading stops at the end of that frame: nothing behind the hello is decoded until the hello is answered. The
 * bytes behind it, when they came in the same read, are kept in `rest`.
 */
export class HelloFrameReader {
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private seen = 0;
  private length: number | null = null;
  /** What came behind the hello in the same read, to be read once the hello is answered. */
  rest: Buffer | null = null;

  /** Feeds bytes to `channel` up to the end of the first frame; returns that frame once whole. Throws FrameError. */
  push(chunk: Buffer, channel: FramedChannel): Frame | null {
    const before = this.seen;
    if (this.length === null) {
      const headerBytes = Math.min(FRAME_HEADER_BYTES - before, chunk.length);
      chunk.copy(this.header, before, 0, headerBytes);
      if (before + headerBytes === FRAME_HEADER_BYTES) {
        // Checked before the decoder sees the whole prefix: it would set aside the announced size at once.
        const length = this.header.readUInt32BE(0);
        if (length > MAX_HELLO_FRAME_BYTES) {
          throw new FrameError(
            ProtocolErrorCode.FRAME_TOO_LARGE,
            `A frame announced ${length} bytes before hello; until its hello is answered a connection may send one frame of at most ${MAX_HELLO_FRAME_BYTES} bytes.`,
          );
        }
        this.length = FRAME_HEADER_BYTES + length;
      }
    }
    const take = this.length === null ? chunk.length : Math.min(chunk.length, this.length - before);
    this.seen = before + take;
    const [frame] = channel.read(take === chunk.length ? chunk : chunk.subarray(0, take));
    if (!frame) return null;
    if (take < chunk.length) this.rest = chunk.subarray(take);
    return frame;
  }
}
