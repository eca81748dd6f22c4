import { backlogPoints, uuidv7, type EngineStats, type MetricPoint, type TopicInfo } from '@reliable-mq/engine';
import { hostname } from 'node:os';
import { TransportError } from '../../errors/transport.error';
import { TransportUnavailableError } from '../../errors/transport-unavailable.error';
import { BrokerRefusedError } from '../../errors/broker-refused.error';
import type { BackgroundConnectResult } from '../background-connect-result';
import { ConnectionListeners } from '../connection-listeners';
import type {
  ConnectionListener,
  ConsumerPayloadCheck,
  DeadLetterOperations,
  InboundHandler,
  SubscriptionSpec,
  TransactionalOperations,
  Transport,
  TransportConfirm,
  TransportMessage,
  TransportSubscription,
} from '../transport.interface';
import { BrokerClientConnection } from './broker-client-connection';
import { ClientOp, ProtocolErrorCode, ServerEvent, ServerOp } from '@reliable-mq/protocol';
import { answerValidate, askValidation } from './remote-payload-validation';
import { RemoteSubscription, runDeliveries } from './remote-subscription';
import {
  resolveRemoteTransportOptions,
  type RemoteTransportOptions,
  type ResolvedRemoteTransportOptions,
} from './remote-transport-options';
import { createRemoteBacklog, type RemoteBacklogOperations } from './remote-backlog';
import { createRemoteTransactions, type CheckerRegistration } from './remote-transactions';
import { failedQuickly, isPermanentRefusal, reconnectDelay } from './reconnect-policy';
import { createRemoteDeadLetters } from './remote-dead-letters';
import { publishBatch } from './remote-publish';

export interface RemoteTransportHooks {
  /** Failures with no caller to tell (a resubscribe refused after a reconnect). */
  onError?: (error: Error) => void;
  /** Connection news: lost, reconnected, the broker going away. */
  onWarning?: (message: string) => void;
}

/**
 * Transport to the standalone broker (apps/broker) over its protocol (docs/broker-protocol.md). Confirms are the
 * broker engine's: `publish` resolves after the batch is durable there.
 *
 * - A lost connection fails every call in flight at once (`TransportUnavailableError`), so the relay sends those
 *   batches again without counting an attempt; the broker knows message ids, so a batch it had stored is confirmed
 *   as a duplicate rather than stored twice.
 * - It reconnects with exponential backoff and jitter (soon again while connects are refused outright; see
 *   reconnect-policy.ts), declares its topics, registers its checkers and subscribes every open subscription again,
 *   under the same member ids; then it tells its connection listeners.
 * - `connectInBackground()` starts without the broker: it keeps trying until `close()`.
 * - Checkback requests from the broker go to the checker registered for the producer group (`@TransactionChecker`).
 */
export class RemoteTransport implements Transport {
  readonly kind = 'remote';
  private readonly options: ResolvedRemoteTransportOptions;
  private connection: BrokerClientConnection | null = null;
  private state: 'idle' | 'connecting' | 'connected' | 'disconnected' | 'closed' = 'idle';
  private readonly subscriptions = new Map<number, RemoteSubscription>();
  private readonly checkers = new Map<number, CheckerRegistration>();
  private nextSubscriptionId = 1;
  private nextCheckerId = 1;
  private reconnectAttempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private connectedWaiters: Array<{
    resolve: (connection: BrokerClientConnection) => void;
    reject: (error: Error) => void;
  }> = [];
  private lastConnectError: Error | null = null;
  /** The last attempt failed fast, so the next one may come soon. */
  private lastAttemptQuick = false;
  /** Started by `connectInBackground()`: never gives up until close(). */
  private background = false;
  private readonly connectionListeners = new ConnectionListeners();
  private readonly instanceId = uuidv7().slice(-12);
  readonly transactions: TransactionalOperations;
  /** Backlog report and actions of the standalone broker (the actions need the admin token). */
  readonly backlog: RemoteBacklogOperations = createRemoteBacklog(
    (op, args, timeoutMs) => this.openConnection().call(op, args, timeoutMs),
    () => this.openConnection().hello,
  );

  constructor(
    options: RemoteTransportOptions,
    private readonly hooks: RemoteTransportHooks = {},
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.options = resolveRemoteTransportOptions(
      options,
      (problem) => {
        throw new TransportError(problem);
      },
      env,
    );
    this.transactions = createRemoteTransactions({
      call: (op, args) => this.call(op, args),
      checkers: this.checkers,
      nextCheckerId: () => this.nextCheckerId++,
      currentConnection: () => (this.state === 'connected' ? this.connection : null),
    });
  }

  /** Read through getters so checks after an await are not narrowed away. */
  private get closed(): boolean {
    return this.state === 'closed';
  }

  private get idle(): boolean {
    return this.state === 'idle';
  }

  /** Where this transport connects, for logs. */
  get url(): string {
    return this.options.url;
  }

  get isConnected(): boolean {
    return this.state === 'connected' && this.connection !== null && this.connection.isOpen;
  }

  onConnectionChange(listener: ConnectionListener): () => void {
    return this.connectionListeners.add(listener);
  }

  /**
   * Starts connecting and keeps trying until `close()`, so that the application can start while the broker is
   * down. Resolves after the first attempt (bounded by `connectTimeoutMs`) with how it went; later connections are
   * told to `onConnectionChange` listeners. A refused token or protocol version rejects: no retry can fix it.
   */
  async connectInBackground(): Promise<BackgroundConnectResult> {
    if (this.state === 'closed') throw new TransportError('This transport is closed.');
    this.background = true;
    if (this.state === 'idle') {
      this.state = 'connecting';
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.attempt(),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, this.options.connectTimeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    if (this.isConnected) return { connected: true };
    const reason = this.lastConnectError;
    if (isPermanentRefusal(reason)) {
      await this.close();
      throw reason;
    }
    return {
      connected: false,
      reason: reason ?? new TransportUnavailableError(`No answer yet from the broker at ${this.options.url}.`),
    };
  }

  /**
   * Connects, retrying with backoff for up to `connectTimeoutMs`. A refused token or protocol version fails at once:
   * no retry can fix it.
   */
  async connect(): Promise<void> {
    if (this.state === 'closed') throw new TransportError('This transport is closed.');
    if (this.state === 'connected') return;
    const deadline = Date.now() + this.options.connectTimeoutMs;
    if (this.state === 'idle') {
      this.state = 'connecting';
      void this.attempt();
    }
    try {
      await this.waitConnected(Math.max(0, deadline - Date.now()));
    } catch (error) {
      // Startup failed: stop trying in the background, so nothing keeps the process alive or reconnects later.
      if (this.state === 'connecting' && !this.background) {
        this.state = 'idle';
        if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
        this.reconnectTimer = null;
      }
      throw error;
    }
  }

  async ensureTopic(topic: string): Promise<void> {
    await this.call(ClientOp.TOPIC_ENSURE, { topic });
  }

  async listTopics(): Promise<TopicInfo[]> {
    return (await this.call(ClientOp.TOPIC_LIST, {})) as TopicInfo[];
  }

  /** The broker engine's statistics (topics, groups, lag, DLQ counts, transactions), for the console. */
  async stats(): Promise<EngineStats> {
    return (await this.call(ClientOp.STATS, {})) as EngineStats;
  }

  /** Lag, retries and dead letters of `groups` from the broker's stats; its storage is on the broker's own /metrics. */
  async brokerMetrics(groups: ReadonlySet<string>, now: number): Promise<MetricPoint[]> {
    return groups.size === 0 ? [] : backlogPoints(await this.stats(), { groups, now });
  }

  /** Resolves once the broker has made the batch durable: see publishBatch. */
  async publish(batch: readonly TransportMessage[]): Promise<TransportConfirm[]> {
    return publishBatch(this.openConnection(), batch);
  }

  async subscribe(spec: SubscriptionSpec, handler: InboundHandler): Promise<TransportSubscription> {
    if (this.state === 'closed') throw new TransportError('Cannot subscribe: this transport is closed.');
    const id = this.nextSubscriptionId++;
    const memberId = spec.consumerId ?? `${hostname()}:${process.pid}:${this.instanceId}:${id}`;
    const subscription = new RemoteSubscription(id, spec, memberId, handler, (closed) =>
      this.subscriptions.delete(closed.id),
    );
    this.subscriptions.set(id, subscription);
    try {
      const connection = await this.waitConnected(this.options.connectTimeoutMs);
      await connection.call(ClientOp.SUBSCRIBE, subscription.wireArgs);
      subscription.attachedTo = connection;
      subscription.established = true;
    } catch (error) {
      this.subscriptions.delete(id);
      subscription.abandon();
      throw error;
    }
    return subscription;
  }

  /**
   * Has a live member of `group` that consumes `topic` check `body` as its handler would, through the broker. No
   * such member, one that went away or did not answer in time: `unavailable` with the broker's reason.
   */
  async validatePayload(group: string, topic: string, body: Buffer): Promise<ConsumerPayloadCheck> {
    return askValidation(this.openConnection(), group, topic, body, this.options.requestTimeoutMs);
  }

  readonly deadLetters: DeadLetterOperations = createRemoteDeadLetters((op, args) => this.call(op, args));

  /** Stops reconnecting, drops subscriptions still open, and closes the connection. Calls in flight fail. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.connectionListeners.end();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    for (const subscription of this.subscriptions.values()) subscription.abandon();
    this.subscriptions.clear();
    this.checkers.clear();
    const connection = this.connection;
    this.connection = null;
    connection?.close();
    const closed = new TransportError('The transport was closed.');
    for (const waiter of this.connectedWaiters.splice(0)) waiter.reject(closed);
  }

  // ------------------------------------------------------------ connection

  private async call(op: string, args: unknown): Promise<unknown> {
    return this.openConnection().call(op, args);
  }

  /** The connection new calls may use, or a TransportError saying why there is none (the caller retries). */
  private openConnection(): BrokerClientConnection {
    if (this.state === 'closed') throw new TransportError('This transport is closed.');
    const connection = this.connection;
    if (this.state !== 'connected' || !connection || !connection.isOpen) {
      throw new TransportUnavailableError(
        `Not connected to the broker at ${this.options.url}${this.lastConnectError ? ` (${this.lastConnectError.message})` : ''}; reconnecting.`,
      );
    }
    return connection;
  }

  private waitConnected(timeoutMs: number): Promise<BrokerClientConnection> {
    if (this.state === 'closed') return Promise.reject(new TransportError('This transport is closed.'));
    if (this.state === 'connected' && this.connection?.isOpen) return Promise.resolve(this.connection);
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (connection: BrokerClientConnection) => {
          clearTimeout(timer);
          resolve(connection);
        },
        reject: (error: Error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        this.connectedWaiters = this.connectedWaiters.filter((other) => other !== waiter);
        reject(
          new TransportUnavailableError(
            `Could not connect to the broker at ${this.options.url} within ${timeoutMs} ms${this.lastConnectError ? `: ${this.lastConnectError.message}` : ''}. Is it running (npm run start:broker), and is BROKER_URL right?`,
          ),
        );
      }, timeoutMs);
      this.connectedWaiters.push(waiter);
    });
  }

  private async attempt(): Promise<void> {
    this.reconnectTimer = null;
    if (this.state === 'closed') return;
    const startedAt = Date.now();
    let connection: BrokerClientConnection;
    try {
      connection = await BrokerClientConnection.open({
        host: this.options.host,
        port: this.options.port,
        token: this.options.token,
        clientName: this.options.clientName ?? `${hostname()}:${process.pid}`,
        connectTimeoutMs: Math.min(10_000, Math.max(1_000, this.options.requestTimeoutMs)),
        requestTimeoutMs: this.options.requestTimeoutMs,
        onEvent: (from, op, args) => this.onEvent(from, op, args),
        onRequest: (from, op, args) => this.onRequest(from, op, args),
        onClose: (from, reason) => this.onConnectionClosed(from, reason),
      });
    } catch (error) {
      this.lastConnectError = error as Error;
      if (this.idle) return;
      this.lastAttemptQuick = failedQuickly(startedAt, Date.now(), error);
      if (isPermanentRefusal(error)) {
        this.hooks.onError?.(error);
        if (this.state === 'connecting' && !this.background) {
          // Startup: fail connect() now rather than after its timeout.
          for (const waiter of this.connectedWaiters.splice(0)) waiter.reject(error);
          this.state = 'idle';
          return;
        }
      }
      this.scheduleReconnect();
      return;
    }
    if (this.closed || this.state === 'idle') {
      connection.close();
      return;
    }
    try {
      await this.restore(connection);
    } catch (error) {
      this.lastConnectError = error as Error;
      this.hooks.onWarning?.(`Setting up the broker connection failed: ${(error as Error).message}; reconnecting.`);
      connection.close();
      return;
    }
    if (connection.isClosed || this.closed || this.idle) {
      connection.close();
      return;
    }
    const wasReconnect = this.state === 'disconnected';
    this.connection = connection;
    this.state = 'connected';
    this.reconnectAttempt = 0;
    this.lastConnectError = null;
    this.lastAttemptQuick = false;
    if (wasReconnect) this.hooks.onWarning?.(`Reconnected to the broker at ${this.options.url}.`);
    for (const waiter of this.connectedWaiters.splice(0)) waiter.resolve(connection);
    this.connectionListeners.report(true);
  }

  /** Declares topics, registers checkers and subscribes again, on a fresh connection, before it takes new calls. */
  private async restore(connection: BrokerClientConnection): Promise<void> {
    for (const topic of this.options.topics) {
      await connection.call(ClientOp.TOPIC_ENSURE, {
        topic: topic.name,
        ...(topic.queueCount !== undefined ? { queueCount: topic.queueCount } : {}),
      });
    }
    for (const [id, registration] of this.checkers) {
      await connection.call(ClientOp.TX_CHECKER_REGISTER, { checker: id, producerGroup: registration.producerGroup });
    }
    for (const subscription of [...this.subscriptions.values()]) {
      // Until its first subscribe has answered, subscribe() owns it.
      if (subscription.isClosing || !subscription.established || subscription.attachedTo === connection) continue;
      try {
        await connection.call(ClientOp.SUBSCRIBE, subscription.wireArgs);
        subscription.attachedTo = connection;
      } catch (error) {
        if (connection.isClosed) throw error;
        this.hooks.onError?.(
          new TransportError(
            `Resubscribing ${subscription.wireArgs.group}/${subscription.wireArgs.topic} after a reconnect failed: ${(error as Error).message}`,
            { cause: error },
          ),
        );
      }
    }
  }

  private onConnectionClosed(connection: BrokerClientConnection, reason: Error): void {
    if (this.connection !== connection && this.connection !== null) return;
    this.connection = null;
    for (const subscription of this.subscriptions.values()) {
      if (subscription.attachedTo === connection) subscription.attachedTo = null;
    }
    if (this.state === 'closed') return;
    this.lastConnectError = reason;
    if (this.state === 'connected') {
      this.hooks.onWarning?.(`Lost the broker connection (${reason.message}); reconnecting.`);
      this.state = 'disconnected';
    }
    this.connectionListeners.report(false);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.state === 'closed' || this.state === 'idle' || this.reconnectTimer) return;
    if (this.state === 'connected') this.state = 'disconnected';
    const delay = reconnectDelay({
      attempt: this.reconnectAttempt,
      quick: this.lastAttemptQuick,
      reconnectDelayMs: this.options.reconnectDelayMs,
      reconnectMaxDelayMs: this.options.reconnectMaxDelayMs,
    });
    this.reconnectAttempt++;
    this.reconnectTimer = setTimeout(() => void this.attempt(), delay);
  }

  private onEvent(connection: BrokerClientConnection, op: string, args: unknown): void {
    if (op === ServerEvent.DELIVER || op === ServerEvent.DELIVER_BATCH) {
      const deliveries = op === ServerEvent.DELIVER ? [args] : (args as { deliveries?: unknown } | null)?.deliveries;
      const malformed = runDeliveries(this.subscriptions, connection, deliveries);
      if (malformed) connection.destroy(new TransportError(`The broker sent ${malformed}.`));
      return;
    }
    if (op === ServerEvent.SUBSCRIPTION_CLOSED) {
      const sub = (args as { sub?: unknown })?.sub;
      const subscription = typeof sub === 'number' ? this.subscriptions.get(sub) : undefined;
      if (subscription?.attachedTo === connection) subscription.attachedTo = null;
      return;
    }
    if (op === ServerEvent.GOAWAY) {
      this.hooks.onWarning?.(`The broker at ${this.options.url} is shutting down; reconnecting when it is back.`);
      this.connectionListeners.report(false);
    }
  }

  private async onRequest(_connection: BrokerClientConnection, op: string, args: unknown): Promise<unknown> {
    if (op === ServerOp.TX_CHECK) return this.transactionsCheck(args);
    if (op === ServerOp.PAYLOAD_VALIDATE) return answerValidate(args, this.subscriptions);
    throw new BrokerRefusedError(ProtocolErrorCode.UNKNOWN_OP, `This client does not answer "${op}".`);
  }

  private transactionsCheck(args: unknown): Promise<{ outcome: string }> {
    return (this.transactions as ReturnType<typeof createRemoteTransactions>).answerCheck(args);
  }
}
