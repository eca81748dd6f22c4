import { connect, type Socket } from 'node:net';
import { BrokerRefusedError } from '../../errors/broker-refused.error';
import { TransportError } from '../../errors/transport.error';
import { TransportUnavailableError } from '../../errors/transport-unavailable.error';
import {
  ClientOp,
  FRAME_HEADER_BYTES,
  FramedChannel,
  FrameType,
  MAX_FRAME_BYTES_CEILING,
  PROTOCOL_VERSION,
  ProtocolErrorCode,
  FrameBatch,
  ServerEvent,
  toWireError,
  type Frame,
  type HelloResult,
  type PublishResult,
  type WireMessage,
} from '@reliable-mq/protocol';
import { fromWireError } from './remote-error';
import { PublishCoalescer } from './publish-coalescer';

/** Acks gathered into one `ack.batch` at most. */
const MAX_ACKS_PER_FRAME = 4096;
/** Room left in a frame for the envelope of a `publish.batch` beyond what `wireOverhead` counts. */
const FRAME_ENVELOPE_BYTES = 1024;

export interface ClientConnectionOptions {
  host: string;
  port: number;
  token: string | undefined;
  clientName: string | undefined;
  /** Bound on TCP connect plus hello. */
  connectTimeoutMs: number;
  requestTimeoutMs: number;
  /** Server events (deliveries, subscription ends). */
  onEvent(connection: BrokerClientConnection, op: string, args: unknown): void;
  /** Server calls (checkbacks); the result is the response. */
  onRequest(connection: BrokerClientConnection, op: string, args: unknown): Promise<unknown>;
  /** Called once when the connection is gone, with why. */
  onClose(connection: BrokerClientConnection, reason: Error): void;
}

/**
 * One TCP connection to the broker: hello, heartbeats, and server events and calls handed to the transport, on the
 * protocol's framed channel (which matches pipelined calls to their answers). It never reconnects; the transport
 * opens a new one.
 */
export class BrokerClientConnection {
  private readonly channel: FramedChannel;
  private closedReason: Error | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private goingAway = false;
  private publishes: PublishCoalescer | null = null;
  private readonly acks: FrameBatch<number>;
  hello!: HelloResult;

  private constructor(
    private readonly socket: Socket,
    private readonly options: ClientConnectionOptions,
  ) {
    this.channel = new FramedChannel(socket, {
      // The limit the broker announces in its hello reply bounds what it accepts; what it sends is read up to the
      // ceiling, which no broker setting may exceed.
      maxFrameBytes: MAX_FRAME_BYTES_CEILING,
      // A call's timeout is the rejection its caller awaits.
      unrefTimers: false,
      errors: {
        timedOut: (op, timeoutMs) =>
          new TransportError(
            `The broker did not answer "${op}" within ${timeoutMs} ms; it may or may not have done it.`,
          ),
        refused: (error, op) => fromWireError(error, op),
        unsent: () =>
          new TransportUnavailableError(`Not connected to the broker: ${this.closedReason?.message ?? 'closed'}`),
      },
    });
    this.acks = new FrameBatch(this.channel, {
      send: (tags) => {
        if (this.closedReason) return;
        if (tags.length === 1) this.channel.notify(ClientOp.ACK, { tag: tags[0] });
        else this.channel.notify(ClientOp.ACK_BATCH, { tags });
      },
      maxItems: MAX_ACKS_PER_FRAME,
      maxBytes: Infinity,
    });
  }

  /** Connects and says hello. A refused hello (token, version) rejects with BrokerRefusedError. */
  static open(options: ClientConnectionOptions): Promise<BrokerClientConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: options.host, port: options.port, noDelay: true });
      const connection = new BrokerClientConnection(socket, options);
      let settled = false;
      const timer = setTimeout(() => {
        connection.destroy(
          new TransportError(
            `No answer from the broker at ${options.host}:${options.port} within ${options.connectTimeoutMs} ms.`,
          ),
        );
      }, options.connectTimeoutMs);
      const settle = (error: Error | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(connection);
      };
      connection.whenClosed = (reason) => settle(reason);
      socket.on('data', (chunk: Buffer) => connection.onData(chunk));
      socket.on('error', (error) =>
        connection.destroy(new TransportError(`Broker connection error: ${error.message}`, { cause: error })),
      );
      socket.on('close', () => connection.destroy(new TransportError('The broker closed the connection.')));
      socket.once('connect', () => {
        socket.setKeepAlive(true, 10_000);
        connection
          .call(
            ClientOp.HELLO,
            { protocol: PROTOCOL_VERSION, token: options.token, client: options.clientName, batching: true },
            options.connectTimeoutMs,
          )
          .then((result) => {
            connection.hello = result as HelloResult;
            connection.startBatching();
            connection.startHeartbeat();
            connection.whenClosed = (reason) => options.onClose(connection, reason);
            settle(null);
          })
          .catch((error: unknown) => {
            connection.destroy(error as Error);
            settle(error as Error);
          });
      });
    });
  }

  /** Where close news goes; swapped from the opener to the transport once the hello succeeded. */
  private whenClosed: (reason: Error) => void = () => undefined;

  get isOpen(): boolean {
    return this.closedReason === null && !this.goingAway;
  }

  get isClosed(): boolean {
    return this.closedReason !== null;
  }

  /** Sends a call and waits for its answer. Broker errors come back as the engine's classes or BrokerRefusedError. */
  call(op: string, args: unknown, timeoutMs = this.options.requestTimeoutMs): Promise<unknown> {
    if (this.closedReason)
      return Promise.reject(new TransportUnavailableError(`Not connected to the broker: ${this.closedReason.message}`));
    const { id, bytes } = this.channel.encodeRequest(op, args);
    // The broker would close the connection on an oversized frame, failing every other call on it: refuse it here.
    if (this.hello && bytes.length - FRAME_HEADER_BYTES > this.hello.maxFrameBytes) {
      return Promise.reject(
        new BrokerRefusedError(
          ProtocolErrorCode.FRAME_TOO_LARGE,
          `"${op}" would be a ${bytes.length - FRAME_HEADER_BYTES}-byte frame; the broker accepts at most ${this.hello.maxFrameBytes}. Nothing was sent.`,
        ),
      );
    }
    return this.channel.sendRequest(id, op, bytes, timeoutMs);
  }

  /** A call nobody waits for (ack, nack). Dropped when the connection is gone: the broker hands the message out again. */
  notify(op: string, args: unknown): void {
    if (this.closedReason) return;
    this.channel.notify(op, args);
  }

  /** Settles a delivery as handled; the acks of one tick go out in one `ack.batch` to a broker that has it. */
  ack(tag: number): void {
    if (this.closedReason) return;
    if (this.hello?.batching === true) this.acks.add(tag);
    else this.channel.notify(ClientOp.ACK, { tag });
  }

  /**
   * Publishes one batch (small enough for one frame: see remote-publish.ts) and resolves with the broker's answer;
   * the publishes of one tick go out in one `publish.batch` to a broker that has it. `bytes`: their size on the wire,
   * counted from above.
   */
  publish(messages: WireMessage[], bytes: number): Promise<PublishResult> {
    if (this.publishes) return this.publishes.publish(messages, bytes);
    return this.call(ClientOp.PUBLISH, { messages }) as Promise<PublishResult>;
  }

  private startBatching(): void {
    if (this.hello?.batching !== true) return;
    const budget = Math.max(FRAME_ENVELOPE_BYTES, this.hello.maxFrameBytes - FRAME_ENVELOPE_BYTES);
    this.publishes = new PublishCoalescer(this.channel, (op, args) => this.call(op, args), budget);
  }

  /** Ends the connection politely; calls still waiting fail. */
  close(): void {
    if (this.closedReason) return;
    this.socket.end();
    this.destroy(new TransportError('The connection to the broker was closed.'));
  }

  destroy(reason: Error): void {
    if (this.closedReason) return;
    this.closedReason = reason;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.channel.rejectAll(
      (op) =>
        new TransportUnavailableError(
          `The connection to the broker was lost before it answered "${op}"; it may or may not have done it. ${reason.message}`,
          { cause: reason },
        ),
    );
    // A polite end first, so an error frame written just before still goes out; then the socket is freed.
    if (!this.socket.destroyed) {
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 1_000).unref();
    }
    this.whenClosed(reason);
  }

  private startHeartbeat(): void {
    const { heartbeatMs, idleTimeoutMs } = this.hello;
    const every = Math.max(50, Math.min(heartbeatMs, Math.floor(idleTimeoutMs / 3)));
    // Three pings without any answer mean the broker or the path to it is gone, even if TCP has not noticed
    // (half-open). The broker still holds the old connection then; the resubscribe takes its members over.
    const silentLimit = Math.max(every * 2, Math.min(idleTimeoutMs, heartbeatMs * 3));
    this.heartbeatTimer = setInterval(() => {
      if (Date.now() - this.channel.lastReceivedAt > silentLimit) {
        this.destroy(new TransportError(`Nothing heard from the broker for ${silentLimit} ms.`));
        return;
      }
      this.call(ClientOp.PING, {}, silentLimit).catch(() => undefined);
    }, every);
    this.heartbeatTimer.unref();
  }

  private onData(chunk: Buffer): void {
    if (this.closedReason) return;
    let frames: Frame[];
    try {
      frames = this.channel.read(chunk);
    } catch (error) {
      const wire = toWireError(error, true);
      this.channel.write({ t: FrameType.ERROR, id: 0, e: wire });
      this.destroy(new TransportError(`The broker sent an invalid frame: ${wire.message}`));
      return;
    }
    for (const frame of frames) {
      if (this.closedReason) return;
      this.onFrame(frame);
    }
  }

  private onFrame(frame: Frame): void {
    switch (frame.t) {
      case FrameType.RESPONSE:
      case FrameType.ERROR: {
        if (frame.t === FrameType.ERROR && frame.id === 0) {
          this.destroy(fromWireError(frame.e, 'connection'));
          return;
        }
        const op = this.channel.settle(frame);
        if (op === undefined) return; // Answered after its timeout.
        if (frame.t === FrameType.ERROR && frame.e.fatal) this.destroy(fromWireError(frame.e, op));
        return;
      }
      case FrameType.EVENT:
        if (frame.op === ServerEvent.GOAWAY) {
          // Calls in flight still get their answers; new ones wait for the next connection.
          this.goingAway = true;
        }
        this.options.onEvent(this, frame.op, frame.a);
        return;
      case FrameType.REQUEST: {
        const id = frame.id;
        this.options.onRequest(this, frame.op, frame.a).then(
          (result) => {
            if (id !== 0) this.channel.write({ t: FrameType.RESPONSE, id, r: result ?? null });
          },
          (error: unknown) => {
            if (id !== 0) this.channel.write({ t: FrameType.ERROR, id, e: toWireError(error) });
          },
        );
        return;
      }
    }
  }
}
