import type { BrokerEngine, EngineOptions, FlushMode, WorkerEngine } from '@reliable-mq/engine';
import type { DbDedupBatchOptions } from './dedup/db-dedup-batcher';
import type { RedisDedupClient } from './dedup/redis-dedup-client.interface';
import type { DataSource } from 'typeorm';
import type { ConsumeMode } from './transport/transport.interface';
import type { TransportFactory } from './transport/transport-factory';
import type { RemoteTransportOptions } from './transport/remote/remote-transport-options';
import type { RabbitMqTransportOptions } from './transport/rabbitmq/rabbitmq-transport-options';

export type { RemoteTransportOptions } from './transport/remote/remote-transport-options';
export type { RabbitMqTransportOptions } from './transport/rabbitmq/rabbitmq-transport-options';

export interface EmbeddedTransportOptions {
  kind: 'embedded';
  /** Directory of the included broker's database. Required unless `sharedEngine` is given. */
  dataDir?: string;
  /**
   * An engine opened by the caller and shared by several Nest applications in one process
   * (the sample apps do this). The transport then neither opens nor closes it.
   */
  sharedEngine?: BrokerEngine | WorkerEngine;
  /**
   * Where the engine runs: `main` (default), on the application's event loop; `worker`, on a thread of its own, so its
   * SQLite commits and fsyncs never block the application (handlers still run on the application's thread). Same
   * data directory either way. A `worker` engine's `engine.clock`, if set, must be a `SharedSkewClock`.
   */
  thread?: 'main' | 'worker';
  /** `sync` (default): confirm after fsync. `async`: confirm after commit; a power loss can lose the last moments. */
  flush?: FlushMode;
  /** Topics to create at startup, with an optional queue count. Unknown topics are refused unless `engine.autoCreateTopics`. */
  topics?: Array<string | { name: string; queueCount?: number }>;
  /** Any other engine option (limits, retention, timeouts). */
  engine?: Omit<EngineOptions, 'dataDir' | 'flush'>;
}

/** The built-in transports, chosen by `kind`. */
export type TransportOptions = EmbeddedTransportOptions | RemoteTransportOptions | RabbitMqTransportOptions;

export interface RelayOptions {
  /** Run the relay in this process. Default true. */
  enabled?: boolean;
  /** Rows claimed and sent per round, at most. Default 1000. */
  batchSize?: number;
  /** Payload bytes claimed per round, at most (the first row always goes). Default 4 MiB. */
  batchBytes?: number;
  /** How long a claim is held before another relay may take the row. Default 30 s. */
  leaseMs?: number | string;
  /** node-cron expression of the safety sweep that finds rows from other processes or left after a restart. Default every 5 s. */
  sweepCron?: string;
  /** Attempts before a row becomes `dead`. Default 20. */
  maxAttempts?: number;
  /** First retry delay; doubles per attempt, with jitter. Default 1 s. */
  backoffBaseMs?: number | string;
  /** Cap of the retry delay. Default 5 min. */
  backoffMaxMs?: number | string;
  /** Sent rows older than this are deleted. Default 7 days. */
  retentionMs?: number | string;
  /** node-cron expression of the cleanup job. Default every 10 minutes. */
  cleanupCron?: string;
  /** Name of this relay in lease columns. Default host:pid:random. */
  instanceId?: string;
}

export type DedupOptions =
  | {
      store: 'redis';
      /** `redis://host:port/db`; or pass `client`. */
      url?: string;
      /** Your ioredis client (or any client with the same `eval`/`quit`/`disconnect`/`status`); you close it. */
      client?: RedisDedupClient;
      /** TTL of the PROCESSING state. Default 5 min. */
      processingTtlMs?: number | string;
      /** TTL of the DONE state: the dedup window. Default 7 days. */
      doneTtlMs?: number | string;
      keyPrefix?: string;
    }
  | {
      store: 'db';
      /**
       * How long inbox rows are kept: the dedup window (a message redelivered after its row is gone runs its
       * handler again). `null` keeps them forever. Default 7 days.
       */
      retentionMs?: number | string | null;
      /** Time between two pruning passes. Default 10 minutes. */
      pruneIntervalMs?: number | string;
      /**
       * Runs several handlers in one transaction, each message with its own inbox row, one commit for all: far fewer
       * commits under load. For handlers that only write through `ctx.manager` (their work runs one after another
       * within a batch). A failing handler fails alone: its batch rolls back and each of its messages runs again in
       * a transaction of its own. Off by default; `{}` takes the defaults (64 messages, 4 batches at once).
       */
      batch?: DbDedupBatchOptions;
    }
  | { store: 'memory' };

export interface ConsumerDefaults {
  mode?: ConsumeMode;
  prefetch?: number;
  maxReconsumeTimes?: number;
  delayLevels?: string;
  /**
   * Where a group that has never consumed a topic starts. Default: `earliest` (every message the broker still holds
   * for the topic) for clustering groups, `latest` (from its subscription on) for broadcasting ones.
   */
  startFrom?: 'latest' | 'earliest';
}

/**
 * Spans on the OpenTelemetry API. They are recorded when the application has `@opentelemetry/api` installed and
 * registered an SDK before creating its Nest application; ReliableMQ never starts one.
 */
export interface TracingOptions {
  /**
   * How a consumer's `process` span relates to the context its message was created in (the `create` span of
   * `publish()`, carried in the message's headers). `link` (default, as the OpenTelemetry messaging conventions
   * advise): each delivery starts a trace of its own, linked to the creation. `parent`: the delivery continues the
   * producer's trace as a child of the creation, so that one trace runs from the request that published to every
   * handler (and every retry) of the message.
   */
  processSpan?: 'link' | 'parent';
}

/**
 * The observable metrics (outbox backlog, consumer lag, dead letters, half messages, engine storage) and the health
 * checks read the outbox and the broker's statistics when asked, at most this often; a scrape or a probe in between
 * gets the last reading, so neither can load the database or the broker however often it comes.
 */
export interface MetricsOptions {
  /** Default 10 s; at least 100 ms. */
  readIntervalMs?: number | string;
}

export interface ReliableMqModuleOptions {
  /**
   * The broker: a built-in transport by `kind` (`embedded`, `remote`, `rabbitmq`), or a factory that creates any
   * other transport, `(context) => new MyTransport(...)` (see TransportFactory).
   */
  transport: TransportOptions | TransportFactory;
  /** Name of this service as a producer; recorded on outbox rows and used for checkbacks. */
  producerGroup: string;
  /** TypeORM DataSource whose database holds the outbox (and the `db` dedup inbox). */
  dataSource?: DataSource;
  relay?: RelayOptions;
  /** Default: `db` when a dataSource is given, otherwise `memory`. */
  dedup?: DedupOptions;
  consumers?: ConsumerDefaults;
  /** Run the framework's own migrations (outbox, inbox) on startup. Default false. */
  runMigrations?: boolean;
  /** Largest serialised payload accepted by publish(). Default 1 MiB. */
  maxPayloadBytes?: number;
  /** Bound on waiting for in-flight handlers at shutdown. Default 10 s. */
  shutdownTimeoutMs?: number;
  metrics?: MetricsOptions;
  tracing?: TracingOptions;
}
