import { BrokerEngine } from '@reliable-mq/engine';
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { PROTOCOL_VERSION, ProtocolError, ProtocolErrorCode, type ValidatePayloadResult } from '@reliable-mq/protocol';
import { isLoopbackHost, type BrokerConfig } from './broker-config';
import { AuthThrottle } from './auth-throttle';
import { BrokerConnection } from './broker-connection';
import type { ConnectionHost } from './connection-host';
import { brokerLogger, type BrokerLogger } from './broker-logger';
import { BrokerMetrics } from './broker-metrics';
import { HealthEndpoint, type HealthReport } from './health-endpoint';
import { PayloadValidationRouter } from './payload-validation';
import { throttledLogger, type ThrottledLogger } from './throttled-logger';

const DEFAULT_ENGINE_MAX_BODY_BYTES = 4 * 1024 * 1024;
const DEFAULT_ENGINE_MAX_BATCH = 1_000;
/** Room in a frame for everything around a body: envelope, ids, key, tags, headers. */
const FRAME_OVERHEAD_BYTES = 64 * 1024;

export interface BrokerServerOptions {
  logger?: BrokerLogger;
  /** Reported in hello replies and the health endpoint. */
  version?: string;
}

/** The server refuses to start; the message says what to change. */
export class BrokerStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BrokerStartError';
  }
}

/**
 * The standalone broker: one engine on local disk behind the broker protocol (docs/broker-protocol.md), plus an
 * HTTP health endpoint. It owns connection limits and member ownership across connections; each connection owns its
 * framing, calls and timeouts.
 *
 * Connections that have not passed their hello are counted apart from the others, with limits of their own, so that
 * sockets without the token can never take the slots of clients that have it.
 */
export class BrokerServer implements ConnectionHost {
  private readonly connections = new Set<BrokerConnection>();
  /** Connections whose hello passed, per remote address; `admittedCount` in all. */
  private readonly perClient = new Map<string, number>();
  private admittedCount = 0;
  /** Connections still before their hello, oldest first: all of them, and per remote address. */
  private readonly handshaking = new Set<BrokerConnection>();
  private readonly handshakingPerClient = new Map<string, Set<BrokerConnection>>();
  private readonly authThrottle: AuthThrottle;
  /** `group \0 memberId` → the connection that drives that member. */
  private readonly members = new Map<string, BrokerConnection>();
  private readonly tokenDigest: Buffer | null;
  private readonly adminDigest: Buffer | null;
  private readonly startedAt = Date.now();
  private state: 'ready' | 'draining' | 'closed' = 'ready';
  private nextConnectionId = 1;
  private listenAddress = { host: '', port: 0 };
  private shutdownPromise: Promise<void> | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private health: HealthEndpoint | null = null;
  private metrics: BrokerMetrics | null = null;
  /** What connections log about themselves (mostly refusals), limited so a flood of bad clients cannot flood the log. */
  private readonly connectionLogger: ThrottledLogger;
  private readonly validation: PayloadValidationRouter;
  readonly version: string;
  readonly maxBodyBytes: number;
  readonly maxBatchSize: number;

  private constructor(
    readonly config: BrokerConfig,
    readonly engine: BrokerEngine,
    private readonly tcp: Server,
    private readonly logger: BrokerLogger,
    version: string,
  ) {
    this.version = version;
    this.connectionLogger = throttledLogger(logger);
    this.authThrottle = new AuthThrottle(config.authFailureBurst, config.authFailureRefillMs);
    this.tokenDigest = config.token === null ? null : digest(config.token);
    this.adminDigest = config.adminToken === null ? null : digest(config.adminToken);
    this.maxBodyBytes = engine.options.maxBodyBytes;
    this.maxBatchSize = engine.options.maxBatchSize;
    this.validation = new PayloadValidationRouter(
      engine,
      {
        subscriptionsOf: (group, topic) =>
          [...this.connections]
            .filter((connection) => connection.isOpen)
            .flatMap((connection) =>
              connection.subscriptions.of(group, topic).map((sub) => ({
                validates: sub.validates,
                member: {
                  memberId: sub.memberId,
                  ask: (payload: Buffer, timeoutMs: number) => connection.askValidation(sub.id, payload, timeoutMs),
                },
              })),
            ),
      },
      config.validateTimeoutMs,
    );
  }

  /** Opens the engine, creates the configured topics, and listens. Refuses an unsafe or broken configuration. */
  static async start(config: BrokerConfig, options: BrokerServerOptions = {}): Promise<BrokerServer> {
    const logger = options.logger ?? brokerLogger();
    if (config.token === null) {
      if (!config.allowNoToken) throw new BrokerStartError('No token is configured: set BROKER_TOKEN.');
      if (!isLoopbackHost(config.host)) {
        throw new BrokerStartError(
          `Running without a token is only allowed on a loopback host, not ${config.host}. Set BROKER_TOKEN.`,
        );
      }
    }
    const overhead = Math.min(FRAME_OVERHEAD_BYTES, Math.floor(config.maxFrameBytes / 2));
    const engine = BrokerEngine.open({
      ...config.engine,
      dataDir: config.dataDir,
      flush: config.flush,
      // A delivery must fit in one frame.
      maxBodyBytes: Math.min(
        config.engine.maxBodyBytes ?? DEFAULT_ENGINE_MAX_BODY_BYTES,
        config.maxFrameBytes - overhead,
      ),
      maxBatchSize: config.engine.maxBatchSize ?? DEFAULT_ENGINE_MAX_BATCH,
      onError: (error) => logger.error(`Engine: ${error.message}`, error.stack),
      onWarning: (message) => logger.warn(`Engine: ${message}`),
    });
    let server: BrokerServer | undefined;
    try {
      for (const topic of config.topics)
        engine.createTopic(topic.name, topic.queueCount === undefined ? {} : { queueCount: topic.queueCount });
      const tcp = createServer({ noDelay: true });
      server = new BrokerServer(config, engine, tcp, logger, options.version ?? '0.1.0');
      const ready = server;
      tcp.on('connection', (socket) => ready.accept(socket));
      tcp.on('error', (error) => logger.error(`Listener: ${error.message}`));
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(config.port, config.host, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      const bound = tcp.address() as AddressInfo;
      server.listenAddress = { host: bound.address, port: bound.port };
      if (config.healthPort !== null) {
        server.metrics = new BrokerMetrics(engine, server.version);
        server.health = await HealthEndpoint.start(
          config.host,
          config.healthPort,
          () => ready.healthReport(),
          server.metrics.handle,
        );
      }
      const sweepEvery = Math.max(
        20,
        Math.min(
          1_000,
          Math.floor(Math.min(config.idleTimeoutMs, config.handshakeTimeoutMs, config.frameTimeoutMs) / 4),
        ),
      );
      server.sweepTimer = setInterval(() => ready.sweep(), sweepEvery);
      server.sweepTimer.unref();
    } catch (error) {
      server?.tcp.close();
      await server?.health?.close();
      await server?.metrics?.shutdown();
      await engine.close();
      throw error;
    }
    if (config.token === null) {
      logger.warn(
        `Running WITHOUT a token (BROKER_ALLOW_NO_TOKEN=true): any process on this machine can publish, consume and operate the DLQ. Set BROKER_TOKEN for anything but local development.`,
      );
    }
    return server;
  }

  /** Where it listens (still answered after the listener closed for shutdown). */
  get address(): { host: string; port: number } {
    return this.listenAddress;
  }

  get healthAddress(): { host: string; port: number } | null {
    return this.health?.address ?? null;
  }

  get url(): string {
    const { host, port } = this.address;
    return `reliable-mq://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }

  get draining(): boolean {
    return this.state !== 'ready';
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  healthReport(): HealthReport {
    return {
      state: this.state === 'ready' && !this.engine.isOpen ? 'draining' : this.state,
      protocol: PROTOCOL_VERSION,
      version: this.version,
      connections: this.connections.size,
      uptimeMs: Date.now() - this.startedAt,
      memory: { rssBytes: process.memoryUsage.rss(), heapUsedBytes: process.memoryUsage().heapUsed },
    };
  }

  authenticate(token: string | undefined): boolean {
    if (this.tokenDigest === null) return true;
    if (token === undefined) return false;
    const presented = digest(token);
    const client = timingSafeEqual(presented, this.tokenDigest);
    const admin = this.adminDigest !== null && timingSafeEqual(presented, this.adminDigest);
    return client || admin;
  }

  isAdmin(token: string | undefined): boolean {
    // A broker with no token at all (loopback development only) and no admin token trusts every local client.
    if (this.adminDigest === null) return this.tokenDigest === null;
    return token !== undefined && timingSafeEqual(digest(token), this.adminDigest);
  }

  throttleHello(address: string, evaluate: () => boolean): () => void {
    return this.authThrottle.check(address, evaluate);
  }

  admit(connection: BrokerConnection): ProtocolError | null {
    this.forgetHandshake(connection);
    const address = connection.remoteAddress;
    if (this.admittedCount >= this.config.maxConnections) {
      return new ProtocolError(
        ProtocolErrorCode.TOO_MANY_CONNECTIONS,
        `The broker holds its limit of ${this.config.maxConnections} connections.`,
        true,
      );
    }
    if ((this.perClient.get(address) ?? 0) >= this.config.maxConnectionsPerClient) {
      return new ProtocolError(
        ProtocolErrorCode.TOO_MANY_CONNECTIONS,
        `${address} holds its limit of ${this.config.maxConnectionsPerClient} connections to this broker.`,
        true,
      );
    }
    connection.admitted = true;
    this.admittedCount++;
    this.perClient.set(address, (this.perClient.get(address) ?? 0) + 1);
    return null;
  }

  async claimMember(group: string, memberId: string, connection: BrokerConnection): Promise<void> {
    const key = `${group}\u0000${memberId}`;
    const owner = this.members.get(key);
    if (owner && owner !== connection) {
      // The same consumer instance came back on a new connection before its old one timed out (a half-open peer).
      this.logger.warn(
        `Member ${memberId} of group ${group} reconnected as ${connection.describe()}; closing ${owner.describe()}.`,
      );
      owner.fail(
        new ProtocolError(
          ProtocolErrorCode.SUPERSEDED,
          `Member ${memberId} of group ${group} subscribed on another connection.`,
          true,
        ),
      );
      await owner.closed;
    }
    this.members.set(key, connection);
  }

  releaseMember(group: string, memberId: string, connection: BrokerConnection): void {
    const key = `${group}\u0000${memberId}`;
    if (this.members.get(key) === connection) this.members.delete(key);
  }

  subscribed(group: string, topic: string): void {
    this.validation.subscribed(group, topic);
  }

  validatePayload(group: string, topic: string, payload: Buffer): Promise<ValidatePayloadResult> {
    return this.validation.validate(group, topic, payload);
  }

  connectionClosed(connection: BrokerConnection): void {
    this.forgetHandshake(connection);
    if (!this.connections.delete(connection)) return;
    if (connection.admitted) {
      connection.admitted = false;
      this.admittedCount--;
      const address = connection.remoteAddress;
      const count = (this.perClient.get(address) ?? 1) - 1;
      if (count <= 0) this.perClient.delete(address);
      else this.perClient.set(address, count);
    }
    for (const [key, owner] of this.members) if (owner === connection) this.members.delete(key);
  }

  /**
   * Graceful shutdown: stop accepting, tell clients to go, let them ack what they hold and finish calls in flight
   * (publishes get their confirms), close the connections, then flush and close the engine. Bounded by `timeoutMs`.
   */
  shutdown(timeoutMs = this.config.shutdownTimeoutMs): Promise<void> {
    this.shutdownPromise ??= (async () => {
      this.state = 'draining';
      this.logger.log(`Shutting down: ${this.connections.size} connection(s) to drain.`);
      const listenerClosed = new Promise<void>((resolve) => this.tcp.close(() => resolve()));
      const drainMs = Math.max(0, Math.floor(timeoutMs / 2));
      const drained = Promise.allSettled([...this.connections].map((connection) => connection.drain(drainMs)));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([drained, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timer);
      for (const connection of this.connections) connection.close();
      await Promise.race([listenerClosed, new Promise((resolve) => setTimeout(resolve, 1_000))]);
      if (this.sweepTimer) clearInterval(this.sweepTimer);
      this.authThrottle.close();
      this.connectionLogger.flush();
      await this.engine.close(Math.max(1_000, Math.floor(timeoutMs / 2)));
      this.state = 'closed';
      await this.health?.close();
      await this.metrics?.shutdown();
      this.logger.log('Stopped.');
    })();
    return this.shutdownPromise;
  }

  private accept(socket: Socket): void {
    if (this.state !== 'ready') {
      socket.destroy();
      return;
    }
    const connection = new BrokerConnection(this.nextConnectionId++, socket, this, this.connectionLogger);
    const address = connection.remoteAddress;
    this.connections.add(connection);
    const waiting = this.handshakingPerClient.get(address);
    // Over a limit, the oldest connection that has sent nothing makes room: a client that says hello at once (as
    // every real one does) gets through however many silent sockets an attacker keeps opening. Connections whose
    // hello waits its turn are not silent; with only those left, the new one is refused.
    if (waiting && waiting.size >= this.config.maxHandshakesPerClient && !this.evictSilent(waiting)) {
      connection.refuse(
        ProtocolErrorCode.TOO_MANY_CONNECTIONS,
        `${address} has ${waiting.size} connections waiting for their hello to be answered; try again later.`,
      );
      return;
    }
    if (this.handshaking.size >= this.config.maxHandshakes && !this.evictSilent(this.handshaking)) {
      connection.refuse(
        ProtocolErrorCode.TOO_MANY_CONNECTIONS,
        `The broker has ${this.handshaking.size} connections waiting for their hello to be answered; try again later.`,
      );
      return;
    }
    this.handshaking.add(connection);
    const fromAddress = this.handshakingPerClient.get(address) ?? new Set<BrokerConnection>();
    fromAddress.add(connection);
    this.handshakingPerClient.set(address, fromAddress);
  }

  /** Closes the oldest connection of `among` that has sent nothing yet; false when there is none. */
  private evictSilent(among: Set<BrokerConnection>): boolean {
    for (const candidate of among) {
      if (!candidate.silent) continue;
      this.forgetHandshake(candidate);
      candidate.refuse(
        ProtocolErrorCode.HANDSHAKE_TIMEOUT,
        `Closed without a hello to make room: too many connections from ${candidate.remoteAddress} or in all wait for theirs.`,
      );
      return true;
    }
    return false;
  }

  private forgetHandshake(connection: BrokerConnection): void {
    if (!this.handshaking.delete(connection)) return;
    const address = connection.remoteAddress;
    const fromAddress = this.handshakingPerClient.get(address);
    fromAddress?.delete(connection);
    if (fromAddress?.size === 0) this.handshakingPerClient.delete(address);
  }

  private sweep(): void {
    const now = Date.now();
    for (const connection of this.connections) connection.tick(now);
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
