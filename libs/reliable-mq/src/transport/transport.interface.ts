import type {
  DeadLetter,
  DeadLetterPage,
  DeadLetterQuery,
  HalfMessage,
  HalfMessagePage,
  HalfMessageQuery,
  MetricPoint,
  ResendEdit,
  TransactionOutcome,
} from '@reliable-mq/engine';

/** A message on its way to the broker, already serialised. */
export interface TransportMessage {
  /** Producer-assigned id (UUIDv7). Brokers that keep ids make a re-sent batch idempotent. */
  id: string;
  topic: string;
  key?: string;
  tags?: string[];
  headers: Record<string, string>;
  body: Buffer;
  /** Epoch ms before which the message must not be delivered. */
  deliverAt?: number;
}

export interface TransportConfirm {
  id: string;
  /** True when the broker already held this id and stored nothing new. */
  duplicate: boolean;
}

/** A message handed to a subscription's handler. */
export interface InboundMessage {
  /** Id of the producer's message, stable across retries and resends. */
  id: string;
  topic: string;
  key: string | null;
  tags: string[];
  headers: Record<string, string>;
  body: Buffer;
  /** Failed attempts before this one (0 on first delivery). */
  attempt: number;
  bornAt: number;
}

export type ConsumeMode = 'concurrent' | 'orderly';

export interface SubscriptionSpec {
  group: string;
  topic: string;
  /** `*` or `a || b`. */
  tags?: string;
  mode: ConsumeMode;
  /** Unacked messages in flight for this consumer. */
  prefetch: number;
  /** Failed attempts before the DLQ. */
  maxReconsumeTimes: number;
  /** Retry delays, e.g. `1s 5s 10s`; the transport's default levels when absent. */
  delayLevels?: string;
  /**
   * Where a group with no position on the topic yet starts: `earliest`, every message the broker still holds for
   * the topic, or `latest`, from the subscription on. Absent: `defaultStartFrom(groupMode)` of the engine
   * (`earliest` for clustering groups, `latest` for broadcasting ones), on every transport.
   */
  startFrom?: 'latest' | 'earliest';
  /**
   * Identifies this consumer instance. All subscriptions of one instance pass the same id, so a
   * group that consumes several topics is one member of the group, not one per topic.
   */
  consumerId?: string;
  /**
   * `clustering` (default): each message goes to one member of the group. `broadcasting`: every member (every
   * `consumerId`) gets every message.
   */
  groupMode?: 'clustering' | 'broadcasting';
  /**
   * The check the handler applies to a payload before it runs (DTO or schema). A transport whose broker can ask
   * consumers (the remote one) offers it to operators' tools; delivery never calls it.
   */
  validator?: PayloadValidator;
}

/** What a consumer's pre-handler check says about one payload. */
export type PayloadCheck = { valid: true } | { valid: false; errors: string[] };

/** Checks a payload exactly as the consumer does before calling its handler, without calling it. */
export interface PayloadValidator {
  check(body: Buffer): Promise<PayloadCheck>;
  /** `Class.method`, for display. */
  readonly handler?: string;
  /** `dto:<Class>`, `schema` or `none`. */
  readonly validation?: string;
}

/**
 * A live consumer's verdict on a payload, asked through the broker. `unavailable`: nobody could check it (no live
 * consumer that validates, it went away, or it did not answer in time); `reason` says which.
 */
export type ConsumerPayloadCheck =
  | { status: 'valid'; handler?: string; validation?: string }
  | { status: 'invalid'; errors: string[]; handler?: string; validation?: string }
  | { status: 'unavailable'; reason: string };

/**
 * The handler's outcome decides the message's fate:
 * - resolves: the message is acked (never before);
 * - rejects: it is retried after the next delay level (or `error.retryDelayMs` when set),
 *   and after `maxReconsumeTimes` failures it goes to the group's DLQ;
 * - rejects with `error.nonRetryable === true`: straight to the DLQ with the error's message.
 */
export type InboundHandler = (message: InboundMessage) => Promise<void>;

export interface TransportSubscription {
  /** Stops taking messages and waits (up to `timeoutMs`) for in-flight handlers before returning. */
  close(timeoutMs?: number): Promise<void>;
}

/** Dead-letter operations every transport offers, so the console works the same on each. */
export interface DeadLetterOperations {
  list(query: DeadLetterQuery): Promise<DeadLetterPage>;
  get(id: number): Promise<DeadLetter | undefined>;
  /** Sends letters back through their group's retry path, so only that group handles them again. */
  resend(ids: readonly number[], edit?: ResendEdit): Promise<number[]>;
  /** Marks letters discarded with a reason kept for audit. */
  discard(ids: readonly number[], reason: string): Promise<number[]>;
}

export interface HalfSendConfirm {
  /** Transaction id to commit or roll back with. */
  txId: string;
  /** Id of the message, as consumers will see it once committed. */
  id: string;
  /** True when the broker already held a half message with this id; its first confirm is returned. */
  duplicate: boolean;
}

/**
 * Answers a checkback about one unresolved half message from the producer's local state. Rejecting, or resolving
 * anything but `commit` / `rollback`, counts as `unknown`.
 */
export type TransactionCheckHandler = (half: HalfMessage) => Promise<TransactionOutcome>;

/** Listing filters for half messages; the operation chooses the state. */
export type HalfMessageListQuery = Omit<HalfMessageQuery, 'state'>;

/**
 * Transactional (half) messages with broker checkback. Contract:
 * - `sendHalf` resolves only after the broker has made the half message durable; no consumer sees it before it is
 *   committed. Re-sending the same message id returns the first confirm (`duplicate: true`).
 * - `commit` makes it visible exactly once, enqueued at commit time. It is idempotent (a second commit resolves and
 *   delivers nothing more), and rejects with `TransactionStateError` after a rollback.
 * - `rollback` guarantees it is never delivered; the broker keeps the record for audit. It is idempotent, and
 *   rejects with `TransactionStateError` after a commit. Unknown ids reject with `TransactionNotFoundError`.
 * - A half message still unresolved after the broker's transaction timeout is checked back: a handler registered for
 *   its producer group is asked, then asked again every check interval, up to the broker's check maximum. When no
 *   handler is registered the check is still counted. After the last unanswered check the message is listed as
 *   discarded, never dropped: `commitDiscarded` or `discardDiscarded` settle it.
 * - A checkback answer and a producer's commit or rollback racing each other give one delivery or none.
 * - `registerChecker` may be called once per live instance of a group; any of them may be asked. The function it
 *   resolves unregisters that instance.
 * - Half messages and their checks survive a broker restart.
 */
export interface TransactionalOperations {
  sendHalf(message: TransportMessage, producerGroup: string): Promise<HalfSendConfirm>;
  commit(txId: string): Promise<void>;
  rollback(txId: string, reason?: string): Promise<void>;
  registerChecker(producerGroup: string, checker: TransactionCheckHandler): Promise<() => Promise<void>>;
  /** Half messages waiting for an answer. */
  listUnresolved(query?: HalfMessageListQuery): Promise<HalfMessagePage>;
  /** Half messages that ran out of checks and wait for an operator. */
  listDiscarded(query?: HalfMessageListQuery): Promise<HalfMessagePage>;
  /** Commits discarded half messages by hand; all of them or none. */
  commitDiscarded(txIds: readonly string[]): Promise<string[]>;
  /** Never delivers discarded half messages, with a reason kept for audit; all of them or none. */
  discardDiscarded(txIds: readonly string[], reason: string): Promise<string[]>;
}

/** What a broker still holds for consumers, summed over groups (see `Transport.pendingWork`). */
export interface BrokerPendingWork {
  /** Messages ready for a consumer, not yet delivered. */
  lag: number;
  /** Delivered and not yet acked. */
  inFlight: number;
  /** Waiting for a retry delay to end. */
  retry: number;
  /** Waiting for their delivery time. */
  scheduled: number;
}

/**
 * Hears a transport's connection state change: `true` once it can publish again, `false` once it lost its broker.
 */
export type ConnectionListener = (connected: boolean) => void;

/**
 * A broker connection. Contract every implementation passes (see the transport contract
 * suite in `@reliable-mq/nestjs/testing`):
 * - `publish` resolves only after the broker has made every message of the batch durable
 *   (publisher confirms); if any message is not confirmed it rejects, and re-sending the
 *   whole batch is safe;
 * - a handler's message is acked only after its promise resolves; a rejection retries with
 *   delay levels, then dead-letters; nothing is dropped silently;
 * - a group sees each message once per successful handling in clustering use, and only the
 *   failing group sees its retries;
 * - messages with the same key are delivered in publish order to an `orderly` subscription;
 * - after `close()` nothing more is delivered and `publish` rejects;
 * - a call that fails because the broker cannot be reached (not connected, or the connection went away before the
 *   answer) rejects with `TransportUnavailableError`; every other rejection is the broker's answer about the call.
 *
 * Connection state (`isConnected`, `onConnectionChange`) is optional: a transport without it counts as always
 * connected, and its failures are told apart by their class alone.
 */
export interface Transport {
  readonly kind: string;
  connect(): Promise<void>;
  /**
   * True while the transport holds a live connection to its broker, so that a publish would go out now. An
   * in-process transport is connected from `connect()` to `close()`.
   */
  readonly isConnected?: boolean;
  /**
   * Calls `listener` on every change of `isConnected`, after the change: `true` once a (new) connection is ready
   * for publishes, with the transport's topics declared and its open subscriptions attached again; `false` once it
   * was lost. A registration hears no call for the state at the time it registered, and none after `close()`. A
   * listener that throws is ignored. Returns a function that removes the listener.
   */
  onConnectionChange?(listener: ConnectionListener): () => void;
  /** Declares a topic (idempotent). Transports that create topics on demand may do nothing. */
  ensureTopic(topic: string): Promise<void>;
  publish(batch: readonly TransportMessage[]): Promise<TransportConfirm[]>;
  subscribe(spec: SubscriptionSpec, handler: InboundHandler): Promise<TransportSubscription>;
  /**
   * True when a handler may reject with the engine's `DeliveryReleasedError` to give a delivery back unhandled: the
   * broker delivers it again without counting an attempt. The consumers do so at shutdown with deliveries that had
   * not started; on a transport without it they leave those unsettled, and the subscription's close gives them back.
   */
  readonly releasesDeliveries?: boolean;
  readonly deadLetters: DeadLetterOperations;
  /** Present when the broker supports transactional (half) messages; see TransactionalOperations. */
  readonly transactions?: TransactionalOperations;
  /**
   * Present when the broker can ask a live consumer of `group` on `topic` to check a payload as its handler would
   * (DTO or schema), without handling it. A missing, vanished or silent consumer is `unavailable`, not an error;
   * an invalid name or a topic or group the broker does not know rejects as other calls do.
   */
  validatePayload?(group: string, topic: string, body: Buffer): Promise<ConsumerPayloadCheck>;
  /**
   * Present when the broker can report what waits in it for consumer groups, as the engine's backlog metric points
   * (`BACKLOG_METRICS`: lag in messages and, where known, in time; retries; dead letters) and, for a broker in this
   * process, its storage (`enginePoints`). The observability module asks for `groups`, the groups this application
   * consumes as, at most once per `metrics.readIntervalMs`; a transport without it shows the outbox figures only.
   */
  brokerMetrics?(groups: ReadonlySet<string>, now: number): Promise<MetricPoint[]>;
  /**
   * Present when the broker can say what it still holds for consumers; `waitForIdle` (testing entry point) waits for
   * every count to be 0. A count the broker cannot know is 0.
   */
  pendingWork?(): Promise<BrokerPendingWork>;
  close(): Promise<void>;
}
