import type { BrokerLogger } from './broker-logger';
import type { Socket } from 'node:net';
import {
  ClientOp,
  encodeFrame,
  FrameError,
  FramedChannel,
  frameSize,
  FrameType,
  ProtocolError,
  ProtocolErrorCode,
  ServerEvent,
  ServerOp,
  toWireError,
  type Frame,
  type MemberValidateArgs,
  type RequestFrame,
  type WireDelivery,
  type WireError,
} from '@reliable-mq/protocol';
import type { OperationContext } from './broker-operations';
import { callOf, type Call } from './call-dispatch';
import { ConnectionCheckers } from './connection-checkers';
import { missedDeadline } from './connection-deadlines';
import type { ConnectionHost } from './connection-host';
import { ConnectionSubscriptions } from './connection-subscriptions';
import { DeliveryPush } from './delivery-push';
import { HelloFrameReader } from './hello-frame-reader';
import { helloResult, readHello, unauthorized, versionRefusal, type HelloRequest } from './hello-handshake';

type State = 'handshake' | 'open' | 'closing' | 'closed';

const MEMBER_HEARTBEAT_EVERY_MS = 1_000;
/** Queued output beyond this many times the write-buffer limit closes the connection at once. */
const HARD_WRITE_BUFFER_FACTOR = 4;
/** A connection that was asked to close but whose peer does not finish the close is cut after this. */
const CLOSE_LINGER_MS = 2_000;

/**
 * One client connection: the hello handshake, dispatch of pipelined calls, and the deadlines that keep a broken or
 * hostile peer from holding resources, on the protocol's framed channel (reading, batched writes, this side's calls
 * and backpressure). Nothing a peer sends can throw out of this class: every failure becomes an error frame, and a
 * fatal one also closes the connection.
 */
export class BrokerConnection {
  private state: State = 'handshake';
  private readonly channel: FramedChannel;
  private readonly acceptedAt = Date.now();
  private memberBeatAt = 0;
  private lingerTimer: NodeJS.Timeout | null = null;
  private cleanupPromise: Promise<void> | null = null;
  private clientName = '';
  /** Reads the first frame alone, with a hello's size limit. */
  private readonly helloReader = new HelloFrameReader();
  /** The first frame arrived; reading waits until the hello is answered. */
  private helloReceived = false;
  private withdrawHello: (() => void) | null = null;
  /** Counted in the server's connection limits: its hello passed. */
  admitted = false;
  readonly subscriptions: ConnectionSubscriptions;
  readonly checkers: ConnectionCheckers;
  private readonly context: OperationContext;
  private readonly deliveries: DeliveryPush;
  /** Set by a hello with the admin token. */
  private admin = false;
  private resolveClosed!: () => void;
  /** Settles once the connection is closed and its subscriptions and checkers are gone. */
  readonly closed = new Promise<void>((resolve) => {
    this.resolveClosed = resolve;
  });

  /** Taken once: a closed socket no longer knows its peer, and the server's counts are keyed by it. */
  readonly remoteAddress: string;

  constructor(
    readonly id: number,
    private readonly socket: Socket,
    private readonly host: ConnectionHost,
    private readonly logger: BrokerLogger,
  ) {
    this.remoteAddress = socket.remoteAddress ?? 'unknown';
    const { config } = host;
    this.channel = new FramedChannel(socket, {
      maxFrameBytes: config.maxFrameBytes,
      // The broker's own calls (checkbacks, payload checks) must not keep it alive.
      unrefTimers: true,
      errors: {
        timedOut: (op, timeoutMs) => new Error(`No answer to "${op}" within ${timeoutMs} ms.`),
        refused: (error) => new Error(`${error.code}: ${error.message}`),
        unsent: () => new Error('The connection closed.'),
      },
      // A burst of deliveries (up to the prefetch) may queue a lot at once; only far beyond the limit is it cut at
      // once. Below that, tick() cuts a reader whose queue stays over the limit without draining.
      maxQueuedBytes: config.maxWriteBufferBytes * HARD_WRITE_BUFFER_FACTOR,
      onOverflow: () => this.cutSlowReader(),
      maxIncomingInFlight: config.maxInflightRequests,
    });
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const connection = this;
    this.deliveries = new DeliveryPush(this.channel, (op, args) => void this.send({ t: FrameType.EVENT, op, a: args }));
    const channel = {
      get isOpen(): boolean {
        return connection.state === 'open';
      },
      pushDelivery: (delivery: WireDelivery) => this.deliveries.push(delivery),
      request: (op: string, args: unknown, timeoutMs: number) => this.request(op, args, timeoutMs),
    };
    this.subscriptions = new ConnectionSubscriptions(host.engine, channel);
    this.checkers = new ConnectionCheckers(host.engine, channel, host.config.checkTimeoutMs);
    this.context = {
      engine: host.engine,
      subscriptions: this.subscriptions,
      checkers: this.checkers,
      claimMember: (group, memberId) => host.claimMember(group, memberId, this),
      releaseMember: (group, memberId) => host.releaseMember(group, memberId, this),
      subscribed: (group, topic) => host.subscribed(group, topic),
      validatePayload: (group, topic, payload) => host.validatePayload(group, topic, payload),
      warn: (message, kind) => this.logger.warn(`Connection ${this.describe()}: ${message}`, kind),
      log: (message) => this.logger.log(`Connection ${this.describe()}: ${message}`),
      isAdmin: () => this.admin,
    };
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (error) => this.logger.debug?.(`Connection ${this.describe()}: ${error.message}`));
    socket.on('close', () => this.onSocketClose());
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Accepted but its hello not yet received: the first to go when unauthenticated connections are too many. */
  get silent(): boolean {
    return this.state === 'handshake' && !this.helloReceived;
  }

  /** Closing or closed: input is ignored from here on. */
  private get ended(): boolean {
    return this.state === 'closing' || this.state === 'closed';
  }

  get requestsInFlight(): number {
    return this.channel.incomingInFlight;
  }

  describe(): string {
    return `#${this.id} ${this.remoteAddress}${this.clientName ? ` (${this.clientName})` : ''}`;
  }

  /** Called about once a second by the server: enforces the handshake, idle, frame and slow-reader timeouts. */
  tick(now: number): void {
    const { config } = this.host;
    // A peer whose queued output stays over the limit without shrinking for an idle timeout does not read.
    if (this.state === 'open' && this.channel.outputStalledFor(now, config.maxWriteBufferBytes) > config.idleTimeoutMs)
      this.cutSlowReader();
    const { state, acceptedAt, helloReceived, remoteAddress } = this;
    const missed = missedDeadline({ state, acceptedAt, helloReceived, remoteAddress }, this.channel, config, now);
    if (missed) this.fail(missed);
  }

  /** Asks this connection's client to check a payload for its subscription `sub`, without handling it. */
  askValidation(sub: number, payload: Buffer, timeoutMs: number): Promise<unknown> {
    const args: MemberValidateArgs = { sub, payload };
    return this.request(ServerOp.PAYLOAD_VALIDATE, args, timeoutMs);
  }

  /** Refuses the connection before it is used (limits): one error frame, then close. */
  refuse(code: ProtocolErrorCode, message: string): void {
    this.fail(new ProtocolError(code, message, true));
  }

  /**
   * Graceful end: tells the client to go, lets it ack what it holds (up to `drainMs`), waits for calls in flight,
   * then closes.
   */
  async drain(drainMs: number): Promise<void> {
    if (this.state === 'closed' || this.state === 'closing') return this.closed;
    if (this.state === 'open')
      this.send({ t: FrameType.EVENT, op: ServerEvent.GOAWAY, a: { reason: 'shutting down' } });
    const deadline = Date.now() + drainMs;
    await this.subscriptions.closeAll(Math.max(0, drainMs));
    for (let round = 0; this.channel.incomingInFlight > 0 && Date.now() < deadline && round < 10_000; round++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    this.close();
    return this.closed;
  }

  /** Ends the connection at once; its members leave their groups and unacked messages are handed out again. */
  close(): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    this.socket.end();
    this.lingerTimer = setTimeout(() => this.socket.destroy(), CLOSE_LINGER_MS);
    this.lingerTimer.unref();
    void this.cleanup();
  }

  /** Sends a fatal error frame (about request `requestId`, or the connection when 0) and closes. */
  fail(error: ProtocolError | FrameError, requestId = 0): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.logger.warn(`Connection ${this.describe()} closed: ${error.code}: ${error.message}`, error.code);
    this.sendError(requestId, toWireError(error, true));
    this.close();
  }

  // ---------------------------------------------------------------- input

  private onData(chunk: Buffer): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    if (this.state === 'handshake') {
      this.onHandshakeData(chunk);
      return;
    }
    const now = Date.now();
    let frames: Frame[];
    try {
      frames = this.channel.read(chunk, now);
    } catch (error) {
      this.fail(FrameError.of(error));
      return;
    }
    for (const frame of frames) {
      if (this.ended) return;
      this.onFrame(frame);
    }
    if (this.state === 'open' && now - this.memberBeatAt >= MEMBER_HEARTBEAT_EVERY_MS) {
      this.memberBeatAt = now;
      this.subscriptions.heartbeat();
    }
  }

  /** Before the hello, only its frame is read (see HelloFrameReader); reading stops until it is answered. */
  private onHandshakeData(chunk: Buffer): void {
    if (this.helloReceived) return;
    let frame: Frame | null;
    try {
      frame = this.helloReader.push(chunk, this.channel);
    } catch (error) {
      this.fail(FrameError.of(error));
      return;
    }
    if (!frame) return;
    this.helloReceived = true;
    this.socket.pause();
    if (frame.t === FrameType.REQUEST) {
      this.onRequest(frame);
      return;
    }
    this.fail(
      new ProtocolError(ProtocolErrorCode.HANDSHAKE_REQUIRED, 'The first frame must be the "hello" call.', true),
    );
  }

  private onFrame(frame: Frame): void {
    switch (frame.t) {
      case FrameType.REQUEST:
        this.onRequest(frame);
        return;
      case FrameType.RESPONSE:
        this.channel.settle(frame); // Nobody waits for an answer after its timeout.
        return;
      case FrameType.ERROR:
        if (frame.id === 0) {
          this.logger.warn(`Connection ${this.describe()} reported ${frame.e.code}: ${frame.e.message}`);
          this.close();
          return;
        }
        this.channel.settle(frame);
        return;
      case FrameType.EVENT:
        this.fail(new FrameError(ProtocolErrorCode.BAD_FRAME, 'Clients do not send EVENT frames.'));
        return;
    }
  }

  private onRequest(frame: RequestFrame): void {
    if (this.state === 'handshake') {
      if (frame.op !== ClientOp.HELLO) {
        this.fail(
          new ProtocolError(
            ProtocolErrorCode.HANDSHAKE_REQUIRED,
            `The first call must be "hello"; got ${JSON.stringify(frame.op)}.`,
            true,
          ),
          frame.id,
        );
        return;
      }
      this.hello(frame);
      return;
    }
    let call: Call;
    try {
      call = callOf(frame, this.host.draining);
    } catch (error) {
      this.requestFailed(frame.id, error);
      return;
    }
    this.channel.incomingStarted();
    Promise.resolve()
      .then(() => call.operation(this.context, call.args))
      .then(
        (result) => {
          if (frame.id !== 0) this.respond(frame.id, result);
        },
        (error: unknown) => this.requestFailed(frame.id, error),
      )
      .finally(() => this.channel.incomingFinished())
      .catch(() => undefined);
  }

  private hello(frame: RequestFrame): void {
    let hello: HelloRequest;
    try {
      hello = readHello(frame.a);
    } catch (error) {
      this.fail(error as ProtocolError, frame.id);
      return;
    }
    this.clientName = hello.clientName;
    this.deliveries.batching = hello.batching;
    const refusal = versionRefusal(hello.protocol);
    if (refusal) {
      this.fail(refusal, frame.id);
      return;
    }
    const { token } = hello;
    this.withdrawHello = this.host.throttleHello(this.remoteAddress, () => {
      this.withdrawHello = null;
      if (this.ended) return false;
      if (!this.host.authenticate(token)) {
        this.fail(unauthorized(token), frame.id);
        return true;
      }
      this.admin = this.host.isAdmin(token);
      this.open(frame.id);
      return false;
    });
  }

  private open(helloId: number): void {
    const refusal = this.host.admit(this);
    if (refusal) {
      this.fail(refusal, helloId);
      return;
    }
    this.state = 'open';
    this.respond(helloId, helloResult(this.host, this.admin));
    const after = this.helloReader.rest;
    this.helloReader.rest = null;
    if (after) this.onData(after);
    if (this.state === 'open' && !this.channel.readingHeld) this.socket.resume();
  }

  private requestFailed(requestId: number, error: unknown): void {
    if (error instanceof ProtocolError && error.fatal) {
      this.fail(error, requestId);
      return;
    }
    const known =
      error instanceof ProtocolError ||
      (error instanceof Error && typeof (error as { code?: unknown }).code === 'string');
    if (!known) {
      this.logger.error(
        `Call on connection ${this.describe()} failed unexpectedly: ${(error as Error)?.message ?? String(error)}`,
        (error as Error)?.stack,
      );
    }
    if (requestId !== 0) this.sendError(requestId, toWireError(error));
  }

  // --------------------------------------------------------------- output

  private respond(id: number, result: unknown): void {
    this.send({ t: FrameType.RESPONSE, id, r: result ?? null });
  }

  private sendError(id: number, error: WireError): void {
    this.send({ t: FrameType.ERROR, id, e: error });
  }

  /** Writes a frame; an answer too large for one frame becomes an error, a peer that does not read is cut off. */
  private send(frame: Frame): boolean {
    if (this.state === 'closed' || !this.channel.writable) return false;
    let encoded: Buffer;
    try {
      encoded = encodeFrame(frame);
    } catch (error) {
      this.logger.error(`Could not encode a frame for ${this.describe()}: ${(error as Error).message}`);
      return false;
    }
    if (frameSize(encoded) > this.host.config.maxFrameBytes && frame.t === FrameType.RESPONSE) {
      this.sendError(
        frame.id,
        toWireError(
          new ProtocolError(
            ProtocolErrorCode.RESPONSE_TOO_LARGE,
            `The answer is ${frameSize(encoded)} bytes; frames are limited to ${this.host.config.maxFrameBytes}. Ask for fewer items.`,
          ),
        ),
      );
      return false;
    }
    return this.channel.writeBytes(encoded);
  }

  private cutSlowReader(): void {
    this.logger.warn(
      `Connection ${this.describe()} closed: it does not read (${this.channel.queuedBytes} bytes queued).`,
    );
    this.state = 'closing';
    this.socket.destroy();
    void this.cleanup();
  }

  private request(op: string, args: unknown, timeoutMs: number): Promise<unknown> {
    if (this.state !== 'open') return Promise.reject(new Error('The connection is closed.'));
    return this.channel.request(op, args, timeoutMs);
  }

  // -------------------------------------------------------------- closing

  private onSocketClose(): void {
    if (this.lingerTimer) clearTimeout(this.lingerTimer);
    this.state = 'closed';
    void this.cleanup();
  }

  private cleanup(): Promise<void> {
    this.cleanupPromise ??= (async () => {
      this.withdrawHello?.();
      this.withdrawHello = null;
      this.checkers.unregisterAll();
      this.channel.rejectAll(() => new Error('The connection closed.'));
      try {
        await this.subscriptions.closeAll(0);
      } catch (error) {
        this.logger.error(`Closing the subscriptions of ${this.describe()} failed: ${(error as Error).message}`);
      }
      this.host.connectionClosed(this);
      this.resolveClosed();
    })();
    return this.cleanupPromise;
  }
}
