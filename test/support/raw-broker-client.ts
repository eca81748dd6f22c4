import { connect, type Socket } from 'node:net';
import {
  ClientOp,
  encodeFrame,
  FrameDecoder,
  FrameType,
  PROTOCOL_VERSION,
  type ErrorFrame,
  type Frame,
} from '@reliable-mq/protocol';

/**
 * A client that speaks raw frames and bytes to a broker, for tests that send what the remote transport never would:
 * malformed frames, wrong types, calls out of order.
 */
export class RawBrokerClient {
  readonly frames: Frame[] = [];
  private readonly decoder = new FrameDecoder(64 * 1024 * 1024);
  private waiters: Array<() => void> = [];
  private nextId = 1;
  closed = false;
  /** The broker's answer to the hello, once `open` did it. */
  hello: Record<string, unknown> = {};
  decodeError: Error | null = null;
  readonly closedPromise: Promise<void>;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      try {
        this.frames.push(...this.decoder.push(chunk));
      } catch (error) {
        this.decodeError = error as Error;
      }
      this.wake();
    });
    socket.on('error', () => undefined);
    this.closedPromise = new Promise((resolve) =>
      socket.once('close', () => {
        this.closed = true;
        this.wake();
        resolve();
      }),
    );
  }

  static connect(port: number, host = '127.0.0.1', localAddress?: string): Promise<RawBrokerClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host, ...(localAddress ? { localAddress } : {}) });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawBrokerClient(socket));
      });
    });
  }

  /** Connects and completes the hello (with `hello` fields added); throws if the broker refuses. */
  static async open(port: number, token?: string, hello: Record<string, unknown> = {}): Promise<RawBrokerClient> {
    const client = await RawBrokerClient.connect(port);
    const answer = await client.call(ClientOp.HELLO, {
      protocol: PROTOCOL_VERSION,
      token,
      client: 'raw-test',
      ...hello,
    });
    if (answer.t !== FrameType.RESPONSE) throw new Error(`hello refused: ${JSON.stringify(answer)}`);
    client.hello = answer.r as Record<string, unknown>;
    return client;
  }

  writeBytes(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  request(op: string, args?: unknown, id = this.nextId++): number {
    this.writeBytes(encodeFrame({ t: FrameType.REQUEST, id, op, a: args }));
    return id;
  }

  /** Sends a call and returns its response or error frame. */
  async call(op: string, args?: unknown, timeoutMs = 5_000): Promise<Frame> {
    const id = this.request(op, args);
    return this.waitFor(
      (frame) => (frame.t === FrameType.RESPONSE || frame.t === FrameType.ERROR) && frame.id === id,
      timeoutMs,
    );
  }

  /** The first frame received (now or later) that matches. */
  async waitFor(match: (frame: Frame) => boolean, timeoutMs = 5_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.find(match);
      if (found) return found;
      if (this.closed)
        throw new Error(`closed before the expected frame; got ${JSON.stringify(this.frames.map((f) => f.t))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The connection-level or request error frame the broker sent before closing, and the close itself. */
  async expectFatal(timeoutMs = 5_000): Promise<ErrorFrame> {
    const frame = (await this.waitFor((candidate) => candidate.t === FrameType.ERROR, timeoutMs).catch(
      () => undefined,
    )) as ErrorFrame | undefined;
    await Promise.race([this.closedPromise, new Promise((resolve) => setTimeout(resolve, timeoutMs))]);
    if (!frame) throw new Error(`no error frame; frames: ${JSON.stringify(this.frames)}`);
    if (!this.closed) throw new Error(`the broker sent ${frame.e.code} but did not close the connection`);
    return frame;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}
