import {
  backlogPoints,
  BrokerEngine,
  EngineClosedError,
  enginePoints,
  InvalidArgumentError,
  WorkerEngine,
  type Delivery,
  type EngineOptions,
  type EngineStats,
  type MetricPoint,
  type PublishMessage,
  type WorkerEngineOptions,
} from '@reliable-mq/engine';
import type { EmbeddedTransportOptions } from '../reliable-mq-options.interface';
import type {
  BrokerPendingWork,
  DeadLetterOperations,
  InboundHandler,
  InboundMessage,
  SubscriptionSpec,
  TransactionalOperations,
  Transport,
  TransportConfirm,
  TransportMessage,
  TransportSubscription,
} from './transport.interface';

/**
 * Transport on the included engine, in this process: on the application's thread, or with `thread: 'worker'` on a
 * thread of its own (its commits never block the event loop). Confirms are the engine's: a publish resolves after
 * the batch is committed (and fsynced in `sync` flush).
 */
export class EmbeddedTransport implements Transport {
  readonly kind = 'embedded';
  private engineInstance: BrokerEngine | WorkerEngine | null = null;
  private readonly ownsEngine: boolean;

  constructor(
    private readonly options: EmbeddedTransportOptions,
    private readonly onError: (error: Error) => void = () => undefined,
    private readonly onWarning?: (message: string) => void,
  ) {
    this.ownsEngine = options.sharedEngine === undefined;
  }

  /** The engine runs in this process: connected from connect() to close(), with no news in between. */
  get isConnected(): boolean {
    return this.engineInstance !== null;
  }

  onConnectionChange(): () => void {
    return () => undefined;
  }

  /** The open engine, on this thread (the default `thread: 'main'`); for operations tools and tests. */
  get engine(): BrokerEngine {
    const engine = this.running;
    if (engine instanceof WorkerEngine) {
      throw new InvalidArgumentError(
        "The embedded engine runs on a worker thread (thread: 'worker'): use the transport's workerEngine, whose methods return promises.",
      );
    }
    return engine;
  }

  /** The open engine on its worker thread (`thread: 'worker'`); for operations tools and tests. */
  get workerEngine(): WorkerEngine {
    const engine = this.running;
    if (!(engine instanceof WorkerEngine)) {
      throw new InvalidArgumentError(
        "The embedded engine runs on this thread (thread: 'main'): use the transport's engine.",
      );
    }
    return engine;
  }

  private get running(): BrokerEngine | WorkerEngine {
    if (!this.engineInstance) throw new EngineClosedError('use the embedded engine before connect()');
    return this.engineInstance;
  }

  async brokerMetrics(groups: ReadonlySet<string>, now: number): Promise<MetricPoint[]> {
    const stats = await this.running.stats();
    return [...backlogPoints(stats, { groups, now }), ...enginePoints(stats)];
  }

  async pendingWork(): Promise<BrokerPendingWork> {
    const stats = await this.running.stats();
    const sum = (of: (group: EngineStats['groups'][number]) => number) =>
      stats.groups.reduce((total, group) => total + of(group), 0);
    return {
      lag: sum((group) => group.lag),
      inFlight: sum((group) => group.inFlight),
      retry: sum((group) => group.retryPending),
      scheduled: stats.scheduledPending,
    };
  }

  async connect(): Promise<void> {
    if (this.engineInstance) return;
    if (this.options.sharedEngine) {
      this.engineInstance = this.options.sharedEngine;
    } else {
      const engineOptions: EngineOptions = {
        ...this.options.engine,
        dataDir: this.options.dataDir!,
        flush: this.options.flush ?? 'sync',
        onError: this.options.engine?.onError ?? this.onError,
        onWarning: this.options.engine?.onWarning ?? this.onWarning,
      };
      this.engineInstance =
        this.options.thread === 'worker'
          ? await WorkerEngine.open(engineOptions as WorkerEngineOptions)
          : BrokerEngine.open(engineOptions);
    }
    for (const topic of this.options.topics ?? []) {
      if (typeof topic === 'string') await this.engineInstance.createTopic(topic);
      else await this.engineInstance.createTopic(topic.name, { queueCount: topic.queueCount });
    }
  }

  async ensureTopic(topic: string): Promise<void> {
    if (!(await this.running.getTopic(topic))) await this.running.createTopic(topic);
  }

  async publish(batch: readonly TransportMessage[]): Promise<TransportConfirm[]> {
    const results = await this.running.publish(batch.map(toPublishMessage));
    return results.map((result) => ({ id: result.messageId, duplicate: result.duplicate }));
  }

  /** The engine takes a delivery back when its handler rejects with DeliveryReleasedError. */
  readonly releasesDeliveries = true;

  async subscribe(spec: SubscriptionSpec, handler: InboundHandler): Promise<TransportSubscription> {
    const subscription = await this.running.subscribe({
      group: spec.group,
      topic: spec.topic,
      tags: spec.tags,
      mode: spec.mode,
      prefetch: spec.prefetch,
      startFrom: spec.startFrom,
      memberId: spec.consumerId,
      groupMode: spec.groupMode,
      retry: { maxReconsumeTimes: spec.maxReconsumeTimes, delayLevels: spec.delayLevels },
      handler: (delivery) => handler(toInbound(delivery)),
    });
    return { close: (timeoutMs) => subscription.close(timeoutMs) };
  }

  readonly deadLetters: DeadLetterOperations = {
    list: async (query) => this.running.listDeadLetters(query),
    get: async (id) => this.running.getDeadLetter(id),
    resend: (ids, edit) => this.running.resendDeadLetters(ids, edit),
    discard: (ids, reason) => this.running.discardDeadLetters(ids, reason),
  };

  readonly transactions: TransactionalOperations = {
    sendHalf: async (message, producerGroup) => {
      const result = await this.running.sendHalf(toPublishMessage(message), { producerGroup });
      return { txId: result.txId, id: result.messageId, duplicate: result.duplicate };
    },
    commit: async (txId) => {
      await this.running.commitHalf(txId);
    },
    rollback: async (txId, reason) => {
      await this.running.rollbackHalf(txId, reason);
    },
    registerChecker: async (producerGroup, checker) => {
      const engine = this.running;
      const unregister = await engine.registerTransactionChecker(producerGroup, checker);
      return async () => {
        // After close the engine has dropped every registration already.
        if (engine.isOpen) await unregister();
      };
    },
    listUnresolved: async (query = {}) => this.running.listHalfMessages({ ...query, state: 'unresolved' }),
    listDiscarded: async (query = {}) => this.running.listHalfMessages({ ...query, state: 'discarded' }),
    commitDiscarded: async (txIds) => this.running.commitDiscardedHalves(txIds),
    discardDiscarded: async (txIds, reason) => this.running.discardDiscardedHalves(txIds, reason),
  };

  async close(): Promise<void> {
    const engine = this.engineInstance;
    this.engineInstance = null;
    if (engine && this.ownsEngine) await engine.close();
  }
}

function toPublishMessage(message: TransportMessage): PublishMessage {
  return {
    messageId: message.id,
    topic: message.topic,
    key: message.key,
    tags: message.tags,
    headers: message.headers,
    body: message.body,
    deliverAt: message.deliverAt,
  };
}

function toInbound(delivery: Delivery): InboundMessage {
  return {
    id: delivery.originalMessageId,
    topic: delivery.topic,
    key: delivery.key,
    tags: delivery.tags,
    headers: delivery.headers,
    body: delivery.body,
    attempt: Math.max(delivery.reconsumeTimes, delivery.deliveryCount - 1),
    bornAt: delivery.bornAt,
  };
}
