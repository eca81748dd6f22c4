import { loadOptionalDependency } from '@reliable-mq/engine';
import type * as Amqplib from 'amqplib';
import type { ChannelModel } from 'amqplib';
import { TransportError } from '../../errors/transport.error';
import { TransportUnavailableError } from '../../errors/transport-unavailable.error';
import type { BackgroundConnectResult } from '../background-connect-result';
import { ConnectionListeners } from '../connection-listeners';
import type { ConnectionListener } from '../transport.interface';
import { bounded } from './bounded';
import type { RabbitMqLogger } from './rabbitmq-logger.interface';
import { redactUrl, type ResolvedRabbitMqOptions } from './rabbitmq-options.resolver';

export type { RabbitMqLogger };

type UpListener = (model: ChannelModel) => Promise<void>;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** An attempt that failed within this long was refused outright (nothing listens, or the node is starting). */
const QUICK_FAILURE_MS = 1_000;
/**
 * Longest wait between attempts that fail quickly. A refused connect costs next to nothing, so a node that comes
 * back is found within this long, whatever `reconnect.maxDelayMs` allows for attempts that time out.
 */
const QUICK_RETRY_MAX_MS = 250;
/** Longest wait for one `up` listener before the connection is reported ready without it. */
const UP_LISTENER_MS = 15_000;

/** Every node of a cluster failed one attempt; `permanent` when each of them refused for good. */
class NodesUnreachableError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'NodesUnreachableError';
  }
}

/** Refusals that waiting will not cure: wrong credentials, a missing vhost, no permission. */
function isPermanent(error: unknown): boolean {
  if (error instanceof NodesUnreachableError) return error.permanent;
  const text = String((error as Error)?.message ?? error);
  return /ACCESS[-_]REFUSED|NOT[-_]ALLOWED|\b403\b|\b530\b|ENOTFOUND|Expected amqp: or amqps:/i.test(text);
}

/**
 * One AMQP connection that comes back by itself, to any node of a cluster.
 *
 * - Each attempt tries the node URLs in turn, from the one after the node last lost (or the first), and keeps the
 *   first that answers; it fails only when none does. So a connection whose node goes away moves to another one at
 *   the next attempt, and a node that is only slow to refuse costs one connect timeout per attempt.
 * - `connect()` tries until `connectTimeoutMs` and then fails the application start with the reason; wrong
 *   credentials or a missing vhost fail at once.
 * - `start()` connects in the background instead: one attempt, then retries until `close()`, so that the
 *   application can start while RabbitMQ is away.
 * - When the connection drops (broker restart, network cut, missed heartbeats), every channel on it is gone: the
 *   `down` listeners hear it, and reconnection starts with exponential backoff and jitter, at most
 *   `QUICK_RETRY_MAX_MS` apart while attempts are refused outright. Once a new connection is open, the `up`
 *   listeners run in registration order (topology first, then subscriptions), each on the new connection; then the
 *   connection listeners hear `true`.
 */
export class RabbitMqConnection {
  private model: ChannelModel | null = null;
  private closed = false;
  private failures = 0;
  private lastAttemptQuick = false;
  private lastError: Error | null = null;
  private background = false;
  private readonly connectionListeners = new ConnectionListeners();
  /** The connection whose `up` listeners have all run. */
  private readyModel: ChannelModel | null = null;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly upListeners: UpListener[] = [];
  private readonly downListeners: Array<(error: Error) => void> = [];
  private waiters: Array<(model: ChannelModel) => void> = [];
  /** Increases with every new connection; lets holders of channels tell an old connection's from a new one's. */
  generation = 0;
  /** Major version of the broker, read at connect. */
  serverMajor = 0;
  /** Index in `options.urls` of the node of the open connection, or of the node the next attempt starts from. */
  private nodeIndex = 0;

  /** amqplib's `connect`, loaded when the transport is built so that a missing amqplib fails the start, not a retry. */
  private readonly amqpConnect: typeof Amqplib.connect;

  constructor(
    private readonly options: ResolvedRabbitMqOptions,
    private readonly logger: RabbitMqLogger,
    private readonly upListenerMs = UP_LISTENER_MS,
  ) {
    this.amqpConnect = loadOptionalDependency<typeof Amqplib>(
      'amqplib',
      'The RabbitMQ transport (transport.kind "rabbitmq")',
      () => require('amqplib'),
    ).connect;
  }

  get isUp(): boolean {
    return this.model !== null;
  }

  /** The URL (password hidden) of the node the connection is open to, or undefined while there is none. */
  get currentNode(): string | undefined {
    return this.model ? redactUrl(this.options.urls[this.nodeIndex]!) : undefined;
  }

  /** The node of the open connection, for log lines: its URL, and which of the configured nodes it is. */
  private nodeName(): string {
    const urls = this.options.urls;
    if (urls.length === 1) return this.options.safeUrl;
    return `node ${redactUrl(urls[this.nodeIndex]!)} (${this.nodeIndex + 1} of ${urls.length})`;
  }

  /** Up, and the `up` listeners of this connection have run: what a publisher may rely on (topics declared). */
  get isReady(): boolean {
    return this.model !== null && this.readyModel === this.model;
  }

  /** The open connection, or a TransportError saying it is down (callers retry; the relay backs off). */
  current(): ChannelModel {
    if (this.closed) throw new TransportError('The RabbitMQ transport is closed.');
    if (!this.model)
      throw new TransportUnavailableError(
        `RabbitMQ at ${this.options.safeUrl} is not reachable right now; reconnecting.${this.lastError ? ` Last error: ${this.lastError.message}` : ''}`,
      );
    return this.model;
  }

  /** Resolves with the open connection, waiting up to `timeoutMs` for a reconnection. */
  async whenUp(timeoutMs: number): Promise<ChannelModel> {
    if (this.model) return this.model;
    if (this.closed) throw new TransportError('The RabbitMQ transport is closed.');
    return new Promise<ChannelModel>((resolve, reject) => {
      const waiter = (model: ChannelModel): void => {
        clearTimeout(timer);
        resolve(model);
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((candidate) => candidate !== waiter);
        reject(
          new TransportUnavailableError(
            `RabbitMQ at ${this.options.safeUrl} did not come back within ${timeoutMs} ms.`,
          ),
        );
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** Runs after every (re)connection, in registration order. */
  onUp(listener: UpListener): () => void {
    this.upListeners.push(listener);
    return () => {
      const index = this.upListeners.indexOf(listener);
      if (index >= 0) this.upListeners.splice(index, 1);
    };
  }

  /** Hears `true` after a (re)connection's `up` listeners ran, `false` when it is lost; see Transport. */
  onConnectionChange(listener: ConnectionListener): () => void {
    return this.connectionListeners.add(listener);
  }

  onDown(listener: (error: Error) => void): () => void {
    this.downListeners.push(listener);
    return () => {
      const index = this.downListeners.indexOf(listener);
      if (index >= 0) this.downListeners.splice(index, 1);
    };
  }

  async connect(): Promise<void> {
    if (this.model || this.closed) return;
    const deadline = Date.now() + this.options.connectTimeoutMs;
    let lastError: unknown;
    for (let attempt = 0; ; attempt++) {
      const startedAt = Date.now();
      try {
        this.adopt(await this.open());
        this.logNode('Connected to');
        this.readyModel = this.model;
        this.connectionListeners.report(true);
        return;
      } catch (error) {
        lastError = error;
        this.lastError = error instanceof Error ? error : new Error(String(error));
        if (isPermanent(error) || Date.now() >= deadline || this.closed) break;
        const cap = Date.now() - startedAt < QUICK_FAILURE_MS ? QUICK_RETRY_MAX_MS : this.options.reconnectMaxMs;
        await sleep(Math.min(cap, this.options.reconnectMaxMs, this.options.reconnectInitialMs * 2 ** attempt));
      }
    }
    if (isPermanent(lastError)) throw this.refused(lastError);
    throw new TransportUnavailableError(
      `Cannot connect to RabbitMQ at ${this.options.safeUrl}: ${(lastError as Error)?.message ?? String(lastError)}. ` +
        `Tried for ${this.options.connectTimeoutMs} ms; start RabbitMQ or fix transport.url / RABBITMQ_URL.`,
      { cause: lastError },
    );
  }

  private refused(error: unknown): TransportError {
    return new TransportError(
      `Cannot connect to RabbitMQ at ${this.options.safeUrl}: ${(error as Error)?.message ?? String(error)}. ` +
        'Check the user, password and vhost in the URL (transport.url or RABBITMQ_URL).',
      { cause: error },
    );
  }

  /**
   * Connects in the background: one attempt now (bounded by `timeoutMs`), then retries until `close()`. Resolves
   * with how the first attempt went; a later connection runs the `up` listeners and tells the connection listeners.
   * Wrong credentials or a missing vhost reject (and close): waiting will not cure them.
   */
  async start(timeoutMs: number): Promise<BackgroundConnectResult> {
    if (this.closed) throw new TransportError('The RabbitMQ transport is closed.');
    if (!this.model && !this.background) {
      this.background = true;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.reconnect(),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    if (this.isReady) return { connected: true };
    if (this.lastError && isPermanent(this.lastError)) {
      const error = this.refused(this.lastError);
      await this.close();
      throw error;
    }
    return {
      connected: false,
      reason:
        this.lastError ?? new TransportUnavailableError(`No answer yet from RabbitMQ at ${this.options.safeUrl}.`),
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.connectionListeners.end();
    clearTimeout(this.reconnectTimer);
    const model = this.model;
    this.model = null;
    if (model) await bounded(model.close(), 3000);
  }

  /**
   * Opens a connection to the first node that answers, from `nodeIndex` on and round the list, and leaves
   * `nodeIndex` on it. One URL: its error as it is. Several: one error naming each node's, permanent only if every
   * node refused for good (a node that is still starting may refuse what another accepts).
   */
  private async open(): Promise<ChannelModel> {
    const urls = this.options.urls;
    if (urls.length === 1) return this.openNode(urls[0]!);
    const failures: string[] = [];
    let permanent = true;
    for (let step = 0; step < urls.length; step++) {
      if (this.closed) break;
      const index = (this.nodeIndex + step) % urls.length;
      try {
        const model = await this.openNode(urls[index]!);
        this.nodeIndex = index;
        return model;
      } catch (error) {
        permanent &&= isPermanent(error);
        failures.push(`${redactUrl(urls[index]!)}: ${(error as Error)?.message ?? String(error)}`);
      }
    }
    throw new NodesUnreachableError(`no node answered (${failures.join('; ')})`, permanent && failures.length > 0);
  }

  private async openNode(nodeUrl: string): Promise<ChannelModel> {
    const url = new URL(nodeUrl);
    // heartbeatSeconds 0 leaves the interval to the server: amqplib 0.10 reads `heartbeat=0` that way, but from 2.0 on
    // it turns heartbeats off, so 0 is not sent at all.
    if (!url.searchParams.has('heartbeat') && this.options.heartbeatSeconds > 0) {
      url.searchParams.set('heartbeat', String(this.options.heartbeatSeconds));
    }
    const clientProperties = this.options.connectionName ? { connection_name: this.options.connectionName } : {};
    // Each node gets its share of the start's wait, so that one silent node does not use all of it.
    const share = this.options.connectTimeoutMs / this.options.urls.length;
    return this.amqpConnect(url.toString(), {
      timeout: Math.min(10_000, Math.max(1000, Math.floor(share))),
      clientProperties,
    });
  }

  private adopt(model: ChannelModel): void {
    this.model = model;
    this.generation++;
    this.failures = 0;
    this.lastError = null;
    this.lastAttemptQuick = false;
    const version = String((model.connection.serverProperties as { version?: unknown }).version ?? '0');
    this.serverMajor = Number.parseInt(version, 10) || 0;
    // Without an 'error' listener a connection error would be thrown as an uncaught exception.
    model.on('error', (error: Error) => this.logger.warn(`RabbitMQ connection error: ${error.message}`));
    model.on('close', (error?: Error) => this.lost(model, error ?? new Error('connection closed')));
    model.on('blocked', (reason: string) =>
      this.logger.warn(`RabbitMQ blocks publishing on this connection: ${reason}`),
    );
    model.on('unblocked', () => this.logger.log('RabbitMQ unblocked publishing on this connection'));
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter(model);
  }

  /** With several nodes, which one the connection is on is worth a line: it changes on failover. */
  private logNode(what: string): void {
    if (this.options.urls.length > 1) this.logger.log(`${what} RabbitMQ at ${this.nodeName()}.`);
  }

  private lost(model: ChannelModel, error: Error): void {
    if (this.model !== model) return;
    const node = this.nodeName();
    this.model = null;
    // The next attempt starts with another node: this one may be gone for good.
    this.nodeIndex = (this.nodeIndex + 1) % this.options.urls.length;
    if (this.closed) return;
    this.lastError = error;
    this.logger.warn(
      `Lost the connection to RabbitMQ at ${node} (${error.message}); reconnecting` +
        (this.options.urls.length > 1 ? ` to any of its ${this.options.urls.length} nodes.` : '.'),
    );
    for (const listener of this.downListeners) {
      try {
        listener(error);
      } catch (listenerError) {
        this.logger.error(`A disconnect listener failed: ${(listenerError as Error).message}`);
      }
    }
    this.connectionListeners.report(false);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    const cap = this.lastAttemptQuick
      ? Math.min(this.options.reconnectMaxMs, QUICK_RETRY_MAX_MS)
      : this.options.reconnectMaxMs;
    const base = Math.min(cap, this.options.reconnectInitialMs * 2 ** Math.min(this.failures, 20));
    const delay = Math.round(base / 2 + (Math.random() * base) / 2);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => void this.reconnect(), delay);
  }

  private async reconnect(): Promise<void> {
    if (this.closed || this.model) return;
    const startedAt = Date.now();
    let model: ChannelModel;
    try {
      model = await this.open();
    } catch (error) {
      this.failures++;
      this.lastError = error instanceof Error ? error : new Error(String(error));
      // Wrong credentials answer fast too, but retrying them every half second only fills the broker's log.
      this.lastAttemptQuick = Date.now() - startedAt < QUICK_FAILURE_MS && !isPermanent(error);
      // The first failure of a background start is the application's to report; it says more there.
      const firstOfStart = this.generation === 0 && this.failures === 1;
      if (!firstOfStart && (this.failures === 1 || this.failures % 10 === 0)) {
        this.logger.warn(
          `${this.generation === 0 ? 'Connecting' : 'Reconnecting'} to RabbitMQ failed ${this.failures} time(s): ${(error as Error).message}`,
        );
      }
      this.scheduleReconnect();
      return;
    }
    if (this.closed) {
      await model.close().catch(() => undefined);
      return;
    }
    const first = this.generation === 0;
    this.adopt(model);
    if (!first) {
      this.logger.log(`Reconnected to RabbitMQ at ${this.nodeName()}; declaring the topology and resubscribing.`);
    } else {
      this.logNode('Connected to');
    }
    for (const listener of [...this.upListeners]) {
      if (this.model !== model) return;
      const outcome = listener(model).then(
        () => 'done' as const,
        (error: unknown) => {
          // A listener that failed because the connection dropped again is retried after the next reconnection.
          if (this.model === model)
            this.logger.error(`Restoring after reconnection failed: ${(error as Error).message}`);
          return 'done' as const;
        },
      );
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), this.upListenerMs);
      });
      // One step that never ends (an amqplib call waiting on a frame lost with an earlier connection) must not keep
      // the transport unready for good: the relay sends nothing until it is ready. The step goes on by itself.
      if ((await Promise.race([outcome, late])) === 'late' && this.model === model) {
        this.logger.warn(
          `Restoring a subscription or the topology after the reconnection did not finish within ${this.upListenerMs / 1000} s; ` +
            'going on without waiting for it (it keeps trying by itself).',
        );
      }
      clearTimeout(timer);
    }
    if (this.model !== model) return;
    this.readyModel = model;
    this.connectionListeners.report(true);
  }
}
