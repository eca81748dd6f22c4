import { escapeLogText, InvalidArgumentError, uuidv7, validateName, type MetricPoint } from '@reliable-mq/engine';
import { hostname } from 'node:os';
import type { DataSource } from 'typeorm';
import { TransportError } from '../../errors/transport.error';
import { OutboxTransactionalOperations } from '../../transactions/outbox-transactional-operations';
import type { BackgroundConnectResult } from '../background-connect-result';
import type {
  BrokerPendingWork,
  ConnectionListener,
  InboundHandler,
  SubscriptionSpec,
  TransactionalOperations,
  Transport,
  TransportConfirm,
  TransportMessage,
  TransportSubscription,
} from '../transport.interface';
import { ConfirmPublisher, type AmqpPublish } from './confirm-publisher';
import { RabbitMqConnection } from './rabbitmq-connection';
import { rabbitMqBacklogPoints, readRabbitMqBacklog, type RabbitMqBacklog } from './rabbitmq-backlog';
import type { RabbitMqLogger } from './rabbitmq-logger.interface';
import { RabbitMqDeadLetters } from './rabbitmq-dead-letters';
import { encodeMessage } from './rabbitmq-message.codec';
import { RabbitMqNames, slotOf } from './rabbitmq-names';
import { resolveRabbitMqOptions, type ResolvedRabbitMqOptions } from './rabbitmq-options.resolver';
import { RabbitMqSubscription } from './rabbitmq-subscription';
import { RabbitMqTopology } from './rabbitmq-topology';
import { resolveHistoryOptions, type ResolvedHistoryOptions } from './rabbitmq-history-options';
import type { RabbitMqTransportOptions } from './rabbitmq-transport-options';
import { RetryRouter } from './retry-router';
import { UnroutedReplay, unparkedTopicHint } from './unrouted-replay';
import { bounded } from './bounded';

export interface RabbitMqTransportInit {
  logger?: RabbitMqLogger;
  /**
   * The producer's database. With it, transactional messages work: their half records and checkbacks live in
   * `rmq_half_message` and a commit goes out through the outbox. Without it `transactions` is absent, and
   * `sendInTransaction` refuses with an error pointing to the outbox.
   */
  dataSource?: DataSource;
  /** Environment for RABBITMQ_URL. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

const consoleLogger: RabbitMqLogger = {
  log: () => undefined,
  warn: (message) => console.warn(`[ReliableMqRabbitMq] ${escapeLogText(message)}`),
  error: (message) => console.error(`[ReliableMqRabbitMq] ${escapeLogText(message)}`),
};

/**
 * The transport on RabbitMQ (3.10 or later) with quorum queues, so that the same `@MqConsumer` handlers and
 * `ReliablePublisher` calls run on a RabbitMQ cluster. How it keeps the transport contract:
 *
 * - publish: a confirm channel, persistent and mandatory messages; it resolves once every message is confirmed and
 *   fails on a nack, a return, a closed channel or a timeout. Topics are checked before anything is sent, so a
 *   batch naming an unknown topic sends nothing. RabbitMQ keeps no message ids: a re-sent batch is delivered again,
 *   and the consumers' dedup absorbs it (`idempotentPublish` is not claimed).
 * - consume: manual acks after the handler resolves; failures go to TTL retry queues of the failing group only,
 *   then to its DLQ; `orderly` subscriptions read hashed single-active-consumer queues one message at a time.
 * - close: stops every subscription and then the connection; publish rejects afterwards.
 *
 * See docs/rabbitmq.md for the topology and what each choice costs.
 */
export class RabbitMqTransport implements Transport {
  readonly kind = 'rabbitmq';
  readonly options: ResolvedRabbitMqOptions;
  /** How long topics keep the history a new group catches up from; 0 keeps none. */
  readonly history: ResolvedHistoryOptions;
  readonly names: RabbitMqNames;
  readonly deadLetters: RabbitMqDeadLetters;
  readonly transactions?: TransactionalOperations;
  private readonly connection: RabbitMqConnection;
  private readonly topology: RabbitMqTopology;
  private readonly publisher: ConfirmPublisher;
  private readonly router: RetryRouter;
  private readonly unrouted: UnroutedReplay;
  private readonly logger: RabbitMqLogger;
  private readonly subscriptions = new Set<RabbitMqSubscription>();
  private readonly groups = new Set<string>();
  /** Topics this instance declared or was asked about; declared again after a reconnection. */
  private readonly topics = new Set<string>();
  /** Exchange names by topic. */
  private readonly exchanges = new Map<string, string>();
  private readonly outboxTransactions: OutboxTransactionalOperations | undefined;
  /** Member id for broadcasting queues of subscriptions that do not pass a consumerId. */
  private readonly defaultMemberId = `${hostname()}:${process.pid}:${uuidv7().slice(-12)}`;
  private closed = false;
  /** connect() or connectInBackground() was called: calls may go out (and fail while RabbitMQ is away). */
  private started = false;
  private topicsRestored = false;

  constructor(options: RabbitMqTransportOptions, init: RabbitMqTransportInit = {}) {
    this.options = resolveRabbitMqOptions(options, init.env);
    this.history = resolveHistoryOptions(options);
    this.logger = init.logger ?? consoleLogger;
    this.names = new RabbitMqNames(this.options.prefix);
    this.connection = new RabbitMqConnection(this.options, this.logger);
    this.topology = new RabbitMqTopology(
      this.connection,
      this.names,
      this.options,
      (message) => this.logger.log(message),
      this.history,
    );
    this.publisher = new ConfirmPublisher(this.connection, this.options.publishTimeoutMs);
    this.router = new RetryRouter(this.publisher, this.topology, this.names);
    this.unrouted = new UnroutedReplay(this.connection, this.publisher, this.names, this.logger);
    for (const group of this.options.deadLetterGroups) this.groups.add(group);
    this.deadLetters = new RabbitMqDeadLetters({
      connection: this.connection,
      topology: this.topology,
      publisher: this.publisher,
      names: this.names,
      scanLimit: this.options.scanLimit,
      knownGroups: () => this.groups,
      rememberGroup: (group) => this.groups.add(group),
    });
    if (init.dataSource) {
      this.outboxTransactions = new OutboxTransactionalOperations({
        dataSource: init.dataSource,
        transactionTimeoutMs: this.options.transactionTimeoutMs,
        checkIntervalMs: this.options.checkIntervalMs,
        transactionCheckMax: this.options.transactionCheckMax,
        halfMessageRetentionMs: this.options.halfMessageRetentionMs,
        admitTopic: (topic) => this.topology.requireTopics([topic]),
        onCommitted: () => this.onHalfCommitted?.(),
        warn: (message) => this.logger.warn(message),
        error: (message) => this.logger.error(message),
      });
      this.transactions = this.outboxTransactions;
    }
  }

  /** Called after a transactional message is committed into the outbox; the module points it at the relay. */
  onHalfCommitted: (() => void) | undefined;

  /** True once a connection is open and the topology was declared on it. */
  get isConnected(): boolean {
    return this.connection.isReady;
  }

  /** The node (URL, password hidden) the connection is open to; undefined while there is none. */
  get connectedNode(): string | undefined {
    return this.connection.currentNode;
  }

  onConnectionChange(listener: ConnectionListener): () => void {
    return this.connection.onConnectionChange(listener);
  }

  /** Every exchange and queue this instance declared (for operators, and for tests that clean up). */
  declaredTopology(): { exchanges: string[]; queues: string[] } {
    return { exchanges: [...this.topology.declared.exchanges], queues: [...this.topology.declared.queues] };
  }

  /**
   * Messages waiting in the queues this instance consumes and in the retry queues it declared (ready, not yet
   * delivered). For tests and health checks; one passive declare per queue.
   */
  async queuedMessages(): Promise<number> {
    const queues = new Set<string>(this.topology.declared.queues);
    for (const name of [...queues]) {
      // DLQs, audit and parked messages wait for an operator, not for this instance; histories are not queues.
      if (/^(dlq|unrouted:|history:|catchup-pending:)/.test(name.slice(this.options.prefix.length + 1)))
        queues.delete(name);
    }
    let total = 0;
    const channel = await this.connection.current().createChannel();
    channel.on('error', () => undefined);
    try {
      for (const queue of queues) {
        try {
          total += (await channel.checkQueue(queue)).messageCount;
        } catch {
          return total; // A missing queue closes the channel; it holds nothing anyway.
        }
      }
    } finally {
      await bounded(channel.close(), 2000);
    }
    return total;
  }

  /**
   * Per (group, topic) this instance consumes: ready messages and consumers of its queues, the age of the oldest
   * message this instance holds unacked (exact, a lower bound, or unknown and why) and its consume rate; and each
   * group's DLQ size. For the console and metrics; one passive declare per queue, nothing taken from a queue.
   */
  async backlog(now = Date.now()): Promise<RabbitMqBacklog> {
    const subscriptions = [...this.subscriptions];
    return readRabbitMqBacklog(
      this.connection.current(),
      {
        work: subscriptions.map((subscription) => ({
          group: subscription.spec.group,
          topic: subscription.spec.topic,
          queues: subscription.workQueues,
          singleActive: subscription.singleActive,
          watches: subscription.queueWatches,
          consumeRatePerSec: subscription.settled.ratePerSec(now),
        })),
        deadLetters: [...new Set(subscriptions.map(({ spec }) => spec.group))].map((group) => ({
          group,
          queue: this.names.deadLetterQueue(group),
        })),
      },
      now,
    );
  }

  /**
   * Ready messages per group queue as lag, the age of the oldest message this instance holds as lag in time (when
   * known; see `backlog()`), and each group's DLQ size.
   */
  async brokerMetrics(_groups?: ReadonlySet<string>, now = Date.now()): Promise<MetricPoint[]> {
    return rabbitMqBacklogPoints(await this.backlog(now));
  }

  /** Ready messages in the work and retry queues as `lag`; unacked ones are handlers running, which RabbitMQ counts apart. */
  async pendingWork(): Promise<BrokerPendingWork> {
    return { lag: await this.queuedMessages(), inFlight: 0, retry: 0, scheduled: 0 };
  }

  async connect(): Promise<void> {
    if (this.started) return;
    if (this.closed) throw new TransportError('The RabbitMQ transport is closed.');
    this.restoreTopicsOnUp();
    await this.connection.connect();
    this.started = true;
    for (const topic of this.options.topics.keys()) await this.ensureTopic(topic);
  }

  /**
   * Starts without waiting for RabbitMQ: one attempt now (bounded by `connectTimeoutMs`), then retries until
   * `close()`. The configured topics are declared on every connection, and `onConnectionChange` listeners hear
   * when it is ready. Resolves with how the first attempt went; wrong credentials or a missing vhost reject.
   */
  async connectInBackground(): Promise<BackgroundConnectResult> {
    if (this.closed) throw new TransportError('The RabbitMQ transport is closed.');
    for (const topic of this.options.topics.keys()) this.topics.add(topic);
    this.restoreTopicsOnUp();
    this.started = true;
    return this.connection.start(this.options.connectTimeoutMs);
  }

  /** Registered before any subscription's, so that on a new connection topics exist before queues bind to them. */
  private restoreTopicsOnUp(): void {
    if (this.topicsRestored) return;
    this.topicsRestored = true;
    this.connection.onUp(async () => {
      for (const topic of this.topics) await this.topology.ensureTopic(topic);
    });
  }

  async ensureTopic(topic: string): Promise<void> {
    validateName('topic', topic);
    this.ensureOpen();
    this.topics.add(topic);
    await this.topology.ensureTopic(topic);
  }

  async publish(batch: readonly TransportMessage[]): Promise<TransportConfirm[]> {
    this.ensureOpen();
    if (!Array.isArray(batch)) throw new InvalidArgumentError('publish() takes an array of messages.');
    if (batch.length === 0) return [];
    const topics = new Set<string>();
    for (const message of batch) topics.add(message.topic);
    // Checked before anything is sent: a batch naming an unknown topic delivers nothing.
    if (!this.topology.knowsTopics(topics)) await this.topology.requireTopics(topics);
    const now = Date.now();
    const items: AmqpPublish[] = batch.map((message) => {
      const encoded = encodeMessage(message, now);
      return {
        exchange: this.exchangeOf(message.topic),
        routingKey: slotOf(message.key),
        content: encoded.content,
        options: encoded.options,
        whenReturned: unparkedTopicHint(message.topic),
      };
    });
    try {
      await this.publisher.publish(items);
    } catch (error) {
      // The exchange may have been deleted under us: ask the broker again next time.
      for (const topic of topics) this.topology.forgetTopic(topic);
      throw error;
    }
    return batch.map((message) => ({ id: message.id, duplicate: false }));
  }

  /** The topic's exchange name, computed once per topic. */
  private exchangeOf(topic: string): string {
    let exchange = this.exchanges.get(topic);
    if (exchange === undefined) {
      exchange = this.names.topicExchange(topic);
      this.exchanges.set(topic, exchange);
    }
    return exchange;
  }

  async subscribe(spec: SubscriptionSpec, handler: InboundHandler): Promise<TransportSubscription> {
    this.ensureOpen();
    validateName('group', spec.group);
    validateName('topic', spec.topic);
    if (typeof handler !== 'function') throw new InvalidArgumentError('subscribe() needs a handler function.');
    if (spec.mode !== 'concurrent' && spec.mode !== 'orderly') {
      throw new InvalidArgumentError(`mode must be "concurrent" or "orderly"; got ${JSON.stringify(spec.mode)}.`);
    }
    if (!Number.isInteger(spec.prefetch) || spec.prefetch < 1 || spec.prefetch > 65_535) {
      throw new InvalidArgumentError(
        `prefetch must be an integer from 1 to 65535; got ${JSON.stringify(spec.prefetch)}.`,
      );
    }
    if (!Number.isInteger(spec.maxReconsumeTimes) || spec.maxReconsumeTimes < 0) {
      throw new InvalidArgumentError(
        `maxReconsumeTimes must be a non-negative integer; got ${JSON.stringify(spec.maxReconsumeTimes)}.`,
      );
    }
    this.groups.add(spec.group);
    this.topics.add(spec.topic);
    const subscription = new RabbitMqSubscription(spec, handler, {
      connection: this.connection,
      topology: this.topology,
      router: this.router,
      logger: this.logger,
      defaultLevels: this.options.delayLevels,
      orderlyRetryPauseMs: this.options.orderlyRetryPauseMs,
      memberId: spec.consumerId ?? this.defaultMemberId,
      onClosed: (closed) => this.subscriptions.delete(closed),
      replayUnrouted: async (topic) => (this.options.unroutable === 'park' ? this.unrouted.replay(topic) : 0),
      history:
        this.history.retentionMs > 0
          ? {
              connection: this.connection,
              topology: this.topology,
              publisher: this.publisher,
              names: this.names,
              retentionMs: this.history.retentionMs,
            }
          : undefined,
    });
    this.subscriptions.add(subscription);
    try {
      await subscription.start();
    } catch (error) {
      await subscription.close(0).catch(() => undefined);
      throw error;
    }
    return subscription;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.subscriptions].map((subscription) => subscription.close(2000)));
    await this.outboxTransactions?.close();
    await this.publisher.close();
    await this.topology.close();
    await this.connection.close();
  }

  private ensureOpen(): void {
    if (this.closed) throw new TransportError('The RabbitMQ transport is closed.');
    if (!this.started) throw new TransportError('Call connect() on the RabbitMQ transport first.');
  }
}
