import type { BrokerLogger } from './broker-logger';
import type { BrokerEngine } from '@reliable-mq/engine';
import type { Socket } from 'node:net';
import {
  ClientOp,
  encodeFrame,
  FRAME_HEADER_BYTES,
  FrameDecoder,
  FrameError,
  FrameType,
  MAX_HELLO_FRAME_BYTES,
  PROTOCOL_VERSION,
  ProtocolError,
  ProtocolErrorCode,
  ServerEvent,
  ServerOp,
  toWireError,
  type Frame,
  type HelloResult,
  type MemberValidateArgs,
  type RequestFrame,
  type ValidatePayloadResult,
  type WireError,
} from '@reliable-mq/protocol';
import type { BrokerConfig } from './broker-config';
import { OPERATIONS, REFUSED_WHILE_DRAINING, type OperationContext } from './broker-operations';
import { ConnectionCheckers } from './connection-checkers';
import { ConnectionSubscriptions } from './connection-subscriptions';
import { Args } from './request-args';

/** What a connection needs from the server that accepted it. */
export interface ConnectionHost {
  readonly engine: BrokerEngine;
  readonly config: BrokerConfig;
  readonly version: string;
  readonly draining: boolean;
  /** Engine body limit, announced in the hello reply. */
  readonly maxBodyBytes: number;
  readonly maxBatchSize: number;
  authenticate(token: string | undefined): boolean;
  /** Whether the token is the admin token, which backlog actions need. */
  isAdmin(token: string | undefined): boolean;
  /**
   * Runs `evaluate` (a token check that says whether it failed) now, or once the address may fail another one.
   * Returns a function that withdraws it.
   */
  throttleHello(address: string, evaluate: () => boolean): () => void;
  /** Takes a connection whose hello passed into the connection limits, or says which limit it is over. */
  admit(connection: BrokerConnection): ProtocolError | null;
  claimMember(group: string, memberId: string, connection: BrokerConnection): Promise<void>;
  releaseMember(group: string, memberId: string, connection: BrokerConnection): void;
  subscribed(group: string, topic: string): void;
  validatePayload(group: string, topic: string, payload: Buffer): Promise<ValidatePayloadResult>;
  connectionClosed(connection: BrokerConnection): void;
}

type State = 'handshake' | 'open' | 'closing' | 'closed';

const MEMBER_HEARTBEAT_EVERY_MS = 1_000;
/** Queued output beyond this many times the write-buffer limit closes the connection at once. */
const HARD_WRITE_BUFFER_FACTOR = 4;
/** A connection that was asked to close but whose peer does not finish the close is cut after this. */
const CLOSE_LINGER_MS = 2_000;

/**
 * One client connection: framing, the hello handshake, dispatch of pipelined calls, and the timeouts that keep a
 * broken or hostile peer from holding resources. Nothing a peer sends can throw out of this class: every failure
 * becomes an error frame, and a fatal one also closes the connection.
 */
export class BrokerConnection {
  private state: State = 'handshake';
  private readonly decoder: FrameDecoder;
  private readonly acceptedAt = Date.now();
  private lastReceivedAt = Date.now();
  private frameStartedAt: number | null = null;
  private memberBeatAt = 0;
  private inflight = 0;
  private paused = false;
  private corked = false;
  private stalledSince: number | null = null;
  private stalledQueued = 0;
  private nextOutgoingId = 1;
  private readonly outgoing = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }
  >();
  private lingerTimer: NodeJS.Timeout | null = null;
  private cleanupPromise: Promise<void> | null = null;
  private clientName = '';
  /**
   * The first frame's length prefix, read here before the decoder gets it, and how much of that frame has come: a peer
   * without the token gets a hello's worth of buffer, and nothing behind the hello is decoded until it is answered.
   */
  private readonly handshakeHeader = Buffer.alloc(FRAME_HEADER_BYTES);
  private handshakeSeen = 0;
  private handshakeLength: number | null = null;
  /** The first frame arrived; reading waits until the hello is answered. */
  private helloReceived = false;
  /** What came behind the hello in the same read, handled once the hello is answered. */
  private afterHello: Buffer | null = null;
  private withdrawHello: (() => void) | null = null;
  /** Counted in the server's connection limits: its hello passed. */
  admitted = false;
  readonly subscriptions: ConnectionSubscriptions;
  readonly checkers: ConnectionCheckers;
  private readonly context: OperationContext;
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
    this.decoder = new FrameDecoder(host.config.maxFrameBytes);
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const connection = this;
    const channel = {
      get isOpen(): boolean {
        return connection.state === 'open';
      },
      pushEvent: (op: string, args: unknown) => void this.send({ t: FrameType.EVENT, op, a: args }),
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
    return this.inflight;
  }

  describe(): string {
    return `#${this.id} ${this.remoteAddress}${this.clientName ? ` (${this.clientName})` : ''}`;
  }

  /** Called about once a second by the server: enforces the handshake, idle, frame and slow-reader timeouts. */
  tick(now: number): void {
    const { config } = this.host;
    if (this.state === 'open') this.checkSlowReader(now);
    if (this.state === 'handshake' && now - this.acceptedAt > config.handshakeTimeoutMs) {
      this.fail(
        new ProtocolError(
          ProtocolErrorCode.HANDSHAKE_TIMEOUT,
          this.helloReceived
            ? `The hello waited more than ${config.handshakeTimeoutMs} ms for its turn: too many wrong tokens came from ${this.remoteAddress}.`
            : `No hello within ${config.handshakeTimeoutMs} ms.`,
          true,
        ),
      );
    } else if (this.frameStartedAt !== null && now - this.frameStartedAt > config.frameTimeoutMs) {
      this.fail(
        new ProtocolError(
          ProtocolErrorCode.FRAME_TIMEOUT,
          `A frame did not arrive whole within ${config.frameTimeoutMs} ms.`,
          true,
        ),
      );
    } else if (this.state === 'open' && !this.paused && now - this.lastReceivedAt > config.idleTimeoutMs) {
      this.fail(
        new ProtocolError(
          ProtocolErrorCode.IDLE_TIMEOUT,
          `Nothing received for ${config.idleTimeoutMs} ms; ping every ${config.heartbeatMs} ms to stay connected.`,
          true,
        ),
      );
    }
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
    for (let round = 0; this.inflight > 0 && Date.now() < deadline && round < 10_000; round++) {
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
    this.lastReceivedAt = now;
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (error) {
      this.fail(error instanceof FrameError ? error : new FrameError(ProtocolErrorCode.BAD_FRAME, String(error)));
      return;
    }
    this.frameStartedAt = this.decoder.inFrame
      ? frames.length > 0 || this.frameStartedAt === null
        ? now
        : this.frameStartedAt
      : null;
    for (const frame of frames) {
      if (this.ended) return;
      this.onFrame(frame);
    }
    if (this.state === 'open' && now - this.memberBeatAt >= MEMBER_HEARTBEAT_EVERY_MS) {
      this.memberBeatAt = now;
      this.subscriptions.heartbeat();
    }
  }

  /**
   * Before the hello, only its frame is read: its length is checked against a hello's before anything is buffered,
   * and reading stops once it is whole, until the hello is answered. Bytes behind it are kept for afterwards.
   */
  private onHandshakeData(chunk: Buffer): void {
    if (this.helloReceived) return;
    this.lastReceivedAt = Date.now();
    const before = this.handshakeSeen;
    if (this.handshakeLength === null) {
      const headerBytes = Math.min(FRAME_HEADER_BYTES - before, chunk.length);
      chunk.copy(this.handshakeHeader, before, 0, headerBytes);
      if (before + headerBytes === FRAME_HEADER_BYTES) {
        // Checked before the decoder sees the whole prefix: it would set aside the announced size at once.
        const length = this.handshakeHeader.readUInt32BE(0);
        if (length > MAX_HELLO_FRAME_BYTES) {
          this.fail(
            new FrameError(
              ProtocolErrorCode.FRAME_TOO_LARGE,
              `A frame announced ${length} bytes before hello; until its hello is answered a connection may send one frame of at most ${MAX_HELLO_FRAME_BYTES} bytes.`,
            ),
          );
          return;
        }
        this.handshakeLength = FRAME_HEADER_BYTES + length;
      }
    }
    const take = this.handshakeLength === null ? chunk.length : Math.min(chunk.length, this.handshakeLength - before);
    this.handshakeSeen = before + take;
    let frames: Frame[];
    try {
      frames = this.decoder.push(take === chunk.length ? chunk : chunk.subarray(0, take));
    } catch (error) {
      this.fail(error instanceof FrameError ? error : new FrameError(ProtocolErrorCode.BAD_FRAME, String(error)));
      return;
    }
    const [frame] = frames;
    if (!frame) return;
    this.helloReceived = true;
    this.socket.pause();
    if (take < chunk.length) this.afterHello = chunk.subarray(take);
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
      case FrameType.RESPONSE: {
        const waiting = this.outgoing.get(frame.id);
        if (!waiting) return; // An answer after its timeout.
        this.outgoing.delete(frame.id);
        clearTimeout(waiting.timer);
        waiting.resolve(frame.r);
        return;
      }
      case FrameType.ERROR: {
        if (frame.id === 0) {
          this.logger.warn(`Connection ${this.describe()} reported ${frame.e.code}: ${frame.e.message}`);
          this.close();
          return;
        }
        const waiting = this.outgoing.get(frame.id);
        if (!waiting) return;
        this.outgoing.delete(frame.id);
        clearTimeout(waiting.timer);
        waiting.reject(new Error(`${frame.e.code}: ${frame.e.message}`));
        return;
      }
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
    const operation = Object.hasOwn(OPERATIONS, frame.op) ? OPERATIONS[frame.op] : undefined;
    if (!operation) {
      this.fail(
        new ProtocolError(
          frame.op === ClientOp.HELLO ? ProtocolErrorCode.BAD_REQUEST : ProtocolErrorCode.UNKNOWN_OP,
          frame.op === ClientOp.HELLO
            ? 'hello was already done on this connection.'
            : `Unknown call ${JSON.stringify(frame.op)} (protocol ${PROTOCOL_VERSION}).`,
          true,
        ),
        frame.id,
      );
      return;
    }
    if (this.host.draining && REFUSED_WHILE_DRAINING.has(frame.op)) {
      if (frame.id !== 0) {
        this.sendError(
          frame.id,
          toWireError(
            new ProtocolError(
              ProtocolErrorCode.SHUTTING_DOWN,
              'The broker is shutting down; retry on another connection.',
            ),
          ),
        );
      }
      return;
    }
    let args: Args;
    try {
      args = Args.of(frame.op, frame.a);
    } catch (error) {
      this.requestFailed(frame.id, error);
      return;
    }
    this.inflight++;
    if (this.inflight >= this.host.config.maxInflightRequests && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
    Promise.resolve()
      .then(() => operation(this.context, args))
      .then(
        (result) => {
          if (frame.id !== 0) this.respond(frame.id, result);
        },
        (error: unknown) => this.requestFailed(frame.id, error),
      )
      .finally(() => {
        this.inflight--;
        if (this.paused && this.inflight < this.host.config.maxInflightRequests / 2 && this.state !== 'closed') {
          this.paused = false;
          this.socket.resume();
        }
      })
      .catch(() => undefined);
  }

  private hello(frame: RequestFrame): void {
    let protocol: number;
    let token: string | undefined;
    try {
      const args = Args.of(ClientOp.HELLO, frame.a);
      protocol = args.integer('protocol', 0, 0xffff_ffff);
      token = args.optionalString('token', 4096);
      this.clientName = (args.optionalString('client', 256) ?? '').replace(/[^\x20-\x7e]/g, '?');
    } catch (error) {
      // Every refusal of a hello ends the connection, values out of range included.
      this.fail(new ProtocolError(ProtocolErrorCode.BAD_REQUEST, (error as Error).message, true), frame.id);
      return;
    }
    if (protocol !== PROTOCOL_VERSION) {
      this.fail(
        new ProtocolError(
          ProtocolErrorCode.UNSUPPORTED_VERSION,
          `This broker speaks protocol ${PROTOCOL_VERSION}; the client asked for ${protocol}.`,
          true,
        ),
        frame.id,
      );
      return;
    }
    this.withdrawHello = this.host.throttleHello(this.remoteAddress, () => {
      this.withdrawHello = null;
      if (this.ended) return false;
      if (!this.host.authenticate(token)) {
        this.fail(
          new ProtocolError(
            ProtocolErrorCode.UNAUTHORIZED,
            token === undefined
              ? 'A token is required: set the broker token on the client.'
              : 'The token is not valid.',
            true,
          ),
          frame.id,
        );
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
    const { config } = this.host;
    const result: HelloResult = {
      protocol: PROTOCOL_VERSION,
      server: 'reliable-mq-broker',
      version: this.host.version,
      maxFrameBytes: config.maxFrameBytes,
      heartbeatMs: config.heartbeatMs,
      idleTimeoutMs: config.idleTimeoutMs,
      maxBatchSize: this.host.maxBatchSize,
      maxBodyBytes: this.host.maxBodyBytes,
      validateTimeoutMs: config.validateTimeoutMs,
      backlogCalls: true,
      admin: this.admin,
    };
    this.respond(helloId, result);
    const after = this.afterHello;
    this.afterHello = null;
    if (after) this.onData(after);
    if (this.state === 'open' && !this.paused) this.socket.resume();
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
    if (this.state === 'closed' || this.socket.destroyed || !this.socket.writable) return false;
    let encoded: Buffer;
    try {
      encoded = encodeFrame(frame);
    } catch (error) {
      this.logger.error(`Could not encode a frame for ${this.describe()}: ${(error as Error).message}`);
      return false;
    }
    if (encoded.length - 4 > this.host.config.maxFrameBytes && frame.t === FrameType.RESPONSE) {
      this.sendError(
        frame.id,
        toWireError(
          new ProtocolError(
            ProtocolErrorCode.RESPONSE_TOO_LARGE,
            `The answer is ${encoded.length - 4} bytes; frames are limited to ${this.host.config.maxFrameBytes}. Ask for fewer items.`,
          ),
        ),
      );
      return false;
    }
    // A burst of deliveries (up to the prefetch) may queue a lot at once; only far beyond the limit is it cut at once.
    // Below that, tick() cuts a reader whose queue stays over the limit without draining.
    if (this.socket.writableLength > this.host.config.maxWriteBufferBytes * HARD_WRITE_BUFFER_FACTOR) {
      this.cutSlowReader();
      return false;
    }
    this.writeCorked(encoded);
    return true;
  }

  /** Frames written in one tick leave in one segment: answers to pipelined calls go out together. */
  private writeCorked(bytes: Buffer): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(bytes);
  }

  private cutSlowReader(): void {
    this.logger.warn(
      `Connection ${this.describe()} closed: it does not read (${this.socket.writableLength} bytes queued).`,
    );
    this.state = 'closing';
    this.socket.destroy();
    void this.cleanup();
  }

  /** Cuts a peer whose queued output stays over the limit without shrinking for an idle timeout. */
  private checkSlowReader(now: number): void {
    const queued = this.socket.writableLength;
    if (queued <= this.host.config.maxWriteBufferBytes) {
      this.stalledSince = null;
      return;
    }
    if (this.stalledSince === null || queued < this.stalledQueued) {
      this.stalledSince = now;
      this.stalledQueued = queued;
    } else if (now - this.stalledSince > this.host.config.idleTimeoutMs) {
      this.cutSlowReader();
    }
  }

  private request(op: string, args: unknown, timeoutMs: number): Promise<unknown> {
    if (this.state !== 'open') return Promise.reject(new Error('The connection is closed.'));
    const id = this.nextOutgoingId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.outgoing.delete(id);
        reject(new Error(`No answer to "${op}" within ${timeoutMs} ms.`));
      }, timeoutMs);
      timer.unref();
      this.outgoing.set(id, { resolve, reject, timer });
      this.send({ t: FrameType.REQUEST, id, op, a: args });
    });
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
      for (const [id, waiting] of this.outgoing) {
        clearTimeout(waiting.timer);
        waiting.reject(new Error('The connection closed.'));
        this.outgoing.delete(id);
      }
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
