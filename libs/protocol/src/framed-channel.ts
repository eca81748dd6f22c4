import { encodeFrame, FrameDecoder } from './frame-codec';
import type { BatchScheduler } from './frame-batch';
import { FrameType } from './protocol-constants';
import type { ErrorFrame, Frame, ResponseFrame } from './protocol-frames';
import { PendingRequests, type PendingRequestErrors } from './pending-requests';

/** What a channel uses of its socket; node:net's Socket has it all. */
export interface ChannelSocket {
  readonly destroyed: boolean;
  readonly writable: boolean;
  readonly writableLength: number;
  cork(): void;
  uncork(): void;
  write(bytes: Uint8Array): boolean;
  pause(): unknown;
  resume(): unknown;
}

export interface FramedChannelOptions {
  /** Largest frame payload this side reads; a longer one announced fails the read before it is buffered. */
  readonly maxFrameBytes: number;
  /** How this side words the failures of its own calls. */
  readonly errors: PendingRequestErrors;
  /** Whether a call's timeout may let the process exit (see PendingRequests). */
  readonly unrefTimers: boolean;
  /**
   * Output queued beyond this refuses further writes and calls `onOverflow`: the peer does not read, and holding
   * more for it would let one peer take the process's memory. None by default.
   */
  readonly maxQueuedBytes?: number;
  readonly onOverflow?: () => void;
  /** Calls from the peer handled at once before reading pauses; reading resumes below half of it. None by default. */
  readonly maxIncomingInFlight?: number;
}

/**
 * One framed connection, the same on both sides of the broker protocol: it reads frames off a byte stream (bounded
 * by the frame limit), writes frames so that those of one tick leave in one segment, matches answers to this side's
 * calls, and applies backpressure both ways (reading pauses while too many of the peer's calls are being handled;
 * output a peer does not read is measured and capped). What the frames mean, the handshake and the timeouts belong
 * to the side that uses it: the broker's `BrokerConnection` and the remote transport's `BrokerClientConnection`.
 */
export class FramedChannel implements BatchScheduler {
  readonly requests: PendingRequests;
  private readonly decoder: FrameDecoder;
  private readonly maxQueuedBytes: number;
  private readonly maxIncomingInFlight: number;
  private corked = false;
  /** Batches holding items, in the order their first item came (see FrameBatch). */
  private batches: Array<{ flush(): void }> = [];
  private flushingBatches = false;
  private incoming = 0;
  private held = false;
  private stalledSince: number | null = null;
  private stalledQueued = 0;
  /** When bytes last arrived: the idle and heartbeat checks of either side read it. */
  lastReceivedAt = Date.now();
  /** When the frame still incomplete began to arrive, or null between frames: a frame may not trickle forever. */
  partialFrameSince: number | null = null;

  constructor(
    private readonly socket: ChannelSocket,
    private readonly options: FramedChannelOptions,
  ) {
    this.decoder = new FrameDecoder(options.maxFrameBytes);
    this.requests = new PendingRequests(options.errors, options.unrefTimers);
    this.maxQueuedBytes = options.maxQueuedBytes ?? Infinity;
    this.maxIncomingInFlight = options.maxIncomingInFlight ?? Infinity;
  }

  // ---------------------------------------------------------------- input

  /** Feeds received bytes; returns the frames they complete. Throws FrameError on an invalid frame, and after it. */
  read(chunk: Buffer, now = Date.now()): Frame[] {
    this.lastReceivedAt = now;
    const frames = this.decoder.push(chunk);
    this.partialFrameSince = this.decoder.inFrame
      ? frames.length > 0 || this.partialFrameSince === null
        ? now
        : this.partialFrameSince
      : null;
    return frames;
  }

  /** Settles this side's call that a RESPONSE or ERROR frame answers; returns its op, undefined if none waits. */
  settle(frame: ResponseFrame | ErrorFrame): string | undefined {
    return this.requests.settle(frame);
  }

  /** A call from the peer started: at `maxIncomingInFlight` reading pauses, so a peer cannot queue unbounded work. */
  incomingStarted(): void {
    this.incoming++;
    if (this.incoming >= this.maxIncomingInFlight && !this.held) {
      this.held = true;
      this.socket.pause();
    }
  }

  /** A call from the peer ended; reading resumes once fewer than half the limit are left. */
  incomingFinished(): void {
    this.incoming--;
    if (this.held && this.incoming < this.maxIncomingInFlight / 2 && !this.socket.destroyed) {
      this.held = false;
      this.socket.resume();
    }
  }

  /** The peer's calls being handled now. */
  get incomingInFlight(): number {
    return this.incoming;
  }

  /** Reading is paused because the peer has too many calls in flight. */
  get readingHeld(): boolean {
    return this.held;
  }

  // --------------------------------------------------------------- output

  /** The socket still takes output. */
  get writable(): boolean {
    return !this.socket.destroyed && this.socket.writable;
  }

  /** Output written but not yet taken by the peer's reading. */
  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  /** Encodes and writes a frame; false when it was not written (see `writeBytes`). */
  write(frame: Frame): boolean {
    return this.writeBytes(encodeFrame(frame));
  }

  /**
   * Writes an encoded frame. False when the socket no longer takes output, or when the queue is over
   * `maxQueuedBytes` (then `onOverflow` has been called).
   */
  writeBytes(bytes: Buffer): boolean {
    if (!this.writable) return false;
    // Batched items gathered before this frame go first: a batch never reorders what the peer reads.
    this.flushBatches();
    if (this.socket.writableLength > this.maxQueuedBytes) {
      this.options.onOverflow?.();
      return false;
    }
    this.corkForTick();
    this.socket.write(bytes);
    return true;
  }

  /** Flushes `batch` before the next frame written and at the end of this tick, with the tick's other frames. */
  schedule(batch: { flush(): void }): void {
    this.batches.push(batch);
    this.corkForTick();
  }

  /** Frames written in one tick (pipelined calls and their answers, batches) leave in one segment. */
  private corkForTick(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    process.nextTick(() => {
      this.flushBatches();
      this.corked = false;
      this.socket.uncork();
    });
  }

  private flushBatches(): void {
    if (this.batches.length === 0 || this.flushingBatches) return;
    this.flushingBatches = true;
    try {
      // A batch flushed here may be scheduled again by an item its own send adds; it then waits for the next round.
      while (this.batches.length > 0) {
        const batches = this.batches;
        this.batches = [];
        for (const batch of batches) batch.flush();
      }
    } finally {
      this.flushingBatches = false;
    }
  }

  /**
   * How long queued output has stayed over `limitBytes` without shrinking, in ms; 0 while it is within the limit or
   * has just shrunk. A burst (deliveries up to the prefetch) may go over for a moment; a peer that stopped reading
   * stays over.
   */
  outputStalledFor(now: number, limitBytes: number): number {
    const queued = this.socket.writableLength;
    if (queued <= limitBytes) {
      this.stalledSince = null;
      return 0;
    }
    if (this.stalledSince === null || queued < this.stalledQueued) {
      this.stalledSince = now;
      this.stalledQueued = queued;
      return 0;
    }
    return now - this.stalledSince;
  }

  // ---------------------------------------------------------- this side's calls

  /** Sends call `op` and waits for its answer, at most `timeoutMs`. */
  request(op: string, args: unknown, timeoutMs: number): Promise<unknown> {
    let encoded: { id: number; bytes: Buffer };
    try {
      encoded = this.encodeRequest(op, args);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return this.sendRequest(encoded.id, op, encoded.bytes, timeoutMs);
  }

  /** Encodes call `op` under a fresh id, for a side that checks its size before sending it with `sendRequest`. */
  encodeRequest(op: string, args: unknown): { id: number; bytes: Buffer } {
    const id = this.requests.allocateId();
    return { id, bytes: encodeFrame({ t: FrameType.REQUEST, id, op, a: args }) };
  }

  /** Sends a call encoded by `encodeRequest` and waits for its answer; one that cannot be written fails at once. */
  sendRequest(id: number, op: string, bytes: Buffer, timeoutMs: number): Promise<unknown> {
    const answer = this.requests.wait(id, op, timeoutMs);
    if (!this.writeBytes(bytes)) this.requests.unsent(id);
    return answer;
  }

  /** A call nobody waits for (id 0: an ack, a nack). */
  notify(op: string, args: unknown): boolean {
    return this.write({ t: FrameType.REQUEST, id: 0, op, a: args });
  }

  /** Fails every call still waiting: the connection is gone. */
  rejectAll(errorFor: (op: string) => Error): void {
    this.requests.rejectAll(errorFor);
  }
}
