import { loadOptionalDependency } from '@reliable-mq/engine';
import type * as Amqplib from 'amqplib';
import type { ChannelModel } from 'amqplib';
import { TransportError } from '../../errors/transport.error';
import { bounded } from './bounded';
import type { RabbitMqLogger } from './rabbitmq-logger.interface';
import type { ResolvedRabbitMqOptions } from './rabbitmq-options.resolver';

export type { RabbitMqLogger };

type UpListener = (model: ChannelModel) => Promise<void>;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Refusals that waiting will not cure: wrong credentials, a missing vhost, no permission. */
function isPermanent(error: unknown): boolean {
  const text = String((error as Error)?.message ?? error);
  return /ACCESS[-_]REFUSED|NOT[-_]ALLOWED|\b403\b|\b530\b|ENOTFOUND|Expected amqp: or amqps:/i.test(text);
}

/**
 * One AMQP connection that comes back by itself.
 *
 * - `connect()` tries until `connectTimeoutMs` and then fails the application start with the reason; wrong
 *   credentials or a missing vhost fail at once.
 * - When the connection drops (broker restart, network cut, missed heartbeats), every channel on it is gone: the
 *   `down` listeners hear it, and reconnection starts with exponential backoff and jitter. Once a new connection
 *   is open, the `up` listeners run in registration order (topology first, then subscriptions), each on the new
 *   connection.
 */
export class RabbitMqConnection {
  private model: ChannelModel | null = null;
  private closed = false;
  private failures = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly upListeners: UpListener[] = [];
  private readonly downListeners: Array<(error: Error) => void> = [];
  private waiters: Array<(model: ChannelModel) => void> = [];
  /** Increases with every new connection; lets holders of channels tell an old connection's from a new one's. */
  generation = 0;
  /** Major version of the broker, read at connect. */
  serverMajor = 0;

  constructor(
    private readonly options: ResolvedRabbitMqOptions,
    private readonly logger: RabbitMqLogger,
  ) {}

  get isUp(): boolean {
    return this.model !== null;
  }

  /** The open connection, or a TransportError saying it is down (callers retry; the relay backs off). */
  current(): ChannelModel {
    if (this.closed) throw new TransportError('The RabbitMQ transport is closed.');
    if (!this.model)
      throw new TransportError(`RabbitMQ at ${this.options.safeUrl} is not reachable right now; reconnecting.`);
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
        reject(new TransportError(`RabbitMQ at ${this.options.safeUrl} did not come back within ${timeoutMs} ms.`));
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
      try {
        this.adopt(await this.open());
        return;
      } catch (error) {
        lastError = error;
        if (isPermanent(error) || Date.now() >= deadline || this.closed) break;
        await sleep(Math.min(this.options.reconnectMaxMs, this.options.reconnectInitialMs * 2 ** attempt));
      }
    }
    throw new TransportError(
      `Cannot connect to RabbitMQ at ${this.options.safeUrl}: ${(lastError as Error)?.message ?? String(lastError)}. ` +
        (isPermanent(lastError)
          ? 'Check the user, password and vhost in the URL (transport.url or RABBITMQ_URL).'
          : `Tried for ${this.options.connectTimeoutMs} ms; start RabbitMQ or fix transport.url / RABBITMQ_URL.`),
      { cause: lastError },
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    const model = this.model;
    this.model = null;
    if (model) await bounded(model.close(), 3000);
  }

  private async open(): Promise<ChannelModel> {
    const url = new URL(this.options.url);
    if (!url.searchParams.has('heartbeat')) url.searchParams.set('heartbeat', String(this.options.heartbeatSeconds));
    const clientProperties = this.options.connectionName ? { connection_name: this.options.connectionName } : {};
    const { connect } = loadOptionalDependency<typeof Amqplib>(
      'amqplib',
      'The RabbitMQ transport (transport.kind "rabbitmq")',
      () => require('amqplib'),
    );
    return connect(url.toString(), {
      timeout: Math.min(10_000, Math.max(1000, this.options.connectTimeoutMs)),
      clientProperties,
    });
  }

  private adopt(model: ChannelModel): void {
    this.model = model;
    this.generation++;
    this.failures = 0;
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

  private lost(model: ChannelModel, error: Error): void {
    if (this.model !== model) return;
    this.model = null;
    if (this.closed) return;
    this.logger.warn(`Lost the connection to RabbitMQ at ${this.options.safeUrl} (${error.message}); reconnecting.`);
    for (const listener of this.downListeners) {
      try {
        listener(error);
      } catch (listenerError) {
        this.logger.error(`A disconnect listener failed: ${(listenerError as Error).message}`);
      }
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    const base = Math.min(
      this.options.reconnectMaxMs,
      this.options.reconnectInitialMs * 2 ** Math.min(this.failures, 20),
    );
    const delay = Math.round(base / 2 + (Math.random() * base) / 2);
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => void this.reconnect(), delay);
  }

  private async reconnect(): Promise<void> {
    if (this.closed || this.model) return;
    let model: ChannelModel;
    try {
      model = await this.open();
    } catch (error) {
      this.failures++;
      if (this.failures === 1 || this.failures % 10 === 0) {
        this.logger.warn(`Reconnecting to RabbitMQ failed ${this.failures} time(s): ${(error as Error).message}`);
      }
      this.scheduleReconnect();
      return;
    }
    if (this.closed) {
      await model.close().catch(() => undefined);
      return;
    }
    this.adopt(model);
    this.logger.log(`Reconnected to RabbitMQ at ${this.options.safeUrl}; declaring the topology and resubscribing.`);
    for (const listener of [...this.upListeners]) {
      if (this.model !== model) return;
      try {
        await listener(model);
      } catch (error) {
        // A listener that failed because the connection dropped again is retried after the next reconnection.
        if (this.model === model) this.logger.error(`Restoring after reconnection failed: ${(error as Error).message}`);
      }
    }
  }
}
