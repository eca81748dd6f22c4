/**
 * `transport: { kind: 'rabbitmq', ... }`: ReliableMQ on a RabbitMQ server or cluster (3.10 or later), with quorum
 * queues. See docs/rabbitmq.md for the topology these options shape.
 */
export interface RabbitMqTransportOptions {
  kind: 'rabbitmq';
  /**
   * `amqp://user:password@host:5672/vhost`, or the URLs of several nodes of one cluster: an array, or one string with
   * the URLs separated by commas. Connections go to the first node that answers, trying them in order, and move to
   * another when theirs goes away. Default: the `RABBITMQ_URL` environment variable (a comma-separated list for a
   * cluster).
   */
  url?: string | string[];
  /**
   * How many nodes hold a replica of each quorum queue this transport creates (`x-quorum-initial-group-size`); a
   * queue keeps accepting and delivering while a majority of its replicas is up. Default 3 when `url` lists 3 or more
   * nodes; otherwise RabbitMQ's own default (on 3.x, every node of the cluster). Applies to new queues only: an
   * existing queue keeps its replicas (grow it with `rabbitmq-queues grow`).
   */
  quorumReplicas?: number;
  /**
   * Topics declared at startup (an exchange each). `queueCount` is how many ordered queues an `orderly` group of
   * this topic gets (1–64, default `orderlyQueueCount`). Topics used by `subscribe` are declared on demand too.
   */
  topics?: Array<string | { name: string; queueCount?: number }>;
  /** Ordered queues per (orderly group, topic) when the topic does not say. Default 4. */
  orderlyQueueCount?: number;
  /** Start of every exchange and queue name this transport declares. Letters, digits, `.`, `_`, `-`. Default `rmq`. */
  prefix?: string;
  /**
   * A message that no group's queue takes (nobody subscribed to its topic yet): `park` (default) keeps it in the
   * topic's `unrouted` queue, from where a group that starts with `startFrom: 'earliest'` takes it; `reject`
   * fails the publish (returned by the broker), so the outbox relay keeps the row and retries. Matters only with
   * `historyRetention: 0`: the history stream takes every message of the topic, so none is unroutable.
   */
  unroutable?: 'park' | 'reject';
  /**
   * How long each topic keeps a history of its messages (a RabbitMQ stream bound to the topic), from which a
   * clustering group's first subscription (`startFrom: 'earliest'`) receives what was published before it, as on the
   * engine. Default `'72h'`, the engine's retention. `0` keeps no history: every publish is written once instead of
   * twice, and a group that joins a topic other groups already consume gets only what follows its subscription.
   */
  historyRetention?: number | string;
  /** Bound on each topic's history in bytes; past it the oldest part goes even within the retention. Default 2 GiB. */
  historyMaxBytes?: number;
  /** Retry delays for subscriptions that do not list their own. Default RocketMQ's 18 levels (`1s 5s … 2h`). */
  delayLevels?: string;
  /** Pause before an orderly subscription retries the message holding its queue. Default 1 s. */
  orderlyRetryPauseMs?: number | string;
  /** AMQP heartbeat: a silent connection is declared dead after about twice this. Default 5 s. */
  heartbeatSeconds?: number;
  /**
   * `false` (default): the application starts even when RabbitMQ cannot be reached; business transactions go to the
   * outbox, and the relay and the consumers attach as soon as RabbitMQ is reachable. `true`: startup waits for
   * RabbitMQ, up to `connectTimeoutMs`, and fails if it does not answer. Wrong credentials fail startup either way.
   */
  waitForConnection?: boolean;
  /**
   * How long startup waits for RabbitMQ: the whole wait with `waitForConnection`, else the first attempt only.
   * Default 15 s.
   */
  connectTimeoutMs?: number | string;
  /**
   * Backoff between reconnection attempts: doubles from `initialDelayMs` (default 250 ms) up to `maxDelayMs`
   * (default 10 s), with jitter. Attempts refused outright come at most 250 ms apart whatever `maxDelayMs` says.
   */
  reconnect?: { initialDelayMs?: number | string; maxDelayMs?: number | string };
  /** A publish whose confirm has not arrived after this long fails (the relay retries it). Default 30 s. */
  publishTimeoutMs?: number | string;
  /** How long a broadcasting member's queue outlives its member after a crash. Default 30 min. */
  broadcastQueueExpiresMs?: number | string;
  deadLetters?: {
    /** Resent and discarded letters kept for audit per group (oldest dropped first). Default 10,000. */
    auditMaxLength?: number;
    /** Most letters one DLQ operation reads from a group's queue. Default 10,000. */
    scanLimit?: number;
    /** Groups that `list()` / `get()` without a `group` look at, besides the groups this instance subscribes. */
    groups?: string[];
  };
  /**
   * Transactional messages kept in the producer's database (the `rmq_half_message` table), since RabbitMQ has no
   * half messages. Needs the module's `dataSource`. Timings as on the embedded engine.
   */
  transactions?: {
    /** An unresolved half message is first checked back this long after it was sent. Default 6 s. */
    transactionTimeoutMs?: number | string;
    /** Then every this long. Default 30 s. */
    checkIntervalMs?: number | string;
    /** Checks before it moves to the discarded list. Default 15. */
    transactionCheckMax?: number;
    /**
     * Resolved records (committed, rolled back, discarded) are deleted this long after they were resolved.
     * `null` keeps them. Default 7 days.
     */
    halfMessageRetentionMs?: number | string | null;
  };
  /** Shown as the connection name in the RabbitMQ management UI and `rabbitmqctl list_connections`. */
  connectionName?: string;
}
