/**
 * Public types of the broker engine. The engine is a library with no framework
 * dependency: these shapes are what every transport built on it speaks.
 */

/** `sync` confirms after an fsync'd commit (synchronous=FULL); `async` confirms after a commit that may still sit in the OS page cache (synchronous=NORMAL). */
export type FlushMode = 'sync' | 'async';

/** Where a group that has never committed an offset starts reading a queue. */
export type StartFrom = 'latest' | 'earliest';

/** `clustering`: each message goes to one member. `broadcasting`: every member gets every message. */
export type GroupMode = 'clustering' | 'broadcasting';

/** `concurrent`: up to `prefetch` messages in flight per member. `orderly`: one message per queue at a time, in offset order. */
export type ConsumeMode = 'concurrent' | 'orderly';

export interface Clock {
  now(): number;
}

export interface EngineOptions {
  /** Directory holding the engine's SQLite database. Created when missing. */
  dataDir: string;
  /** Default `sync`. See README "Flush modes" for what `async` can lose. */
  flush?: FlushMode;
  /** Queues for topics created without an explicit count. Default 4. */
  defaultQueueCount?: number;
  /** Create unknown topics on first publish or subscribe. Default false. */
  autoCreateTopics?: boolean;
  /** Largest accepted message body in bytes. Default 4 MiB. */
  maxBodyBytes?: number;
  /** Largest accepted publish batch. Default 1,000. */
  maxBatchSize?: number;
  /** Consumed messages older than this are deleted. Default 72 h. */
  retentionMs?: number;
  /** Rows deleted per retention chunk. Default 500. */
  retentionChunkSize?: number;
  /** Interval between retention passes. Default 60 s. */
  retentionIntervalMs?: number;
  /** A message in flight longer than this is redelivered. Default 15 min. */
  consumeTimeoutMs?: number;
  /** A member silent for longer than this loses its queues. Default 30 s. */
  sessionTimeoutMs?: number;
  /** Largest database file size in bytes; publishing is refused beyond it. Default: no limit. */
  maxDatabaseBytes?: number;
  /** Publishing is refused while the data directory's file system has less free space than this. Default 64 MiB; 0 disables. */
  minFreeDiskBytes?: number;
  /** Period of the housekeeping timer (timeouts, sessions, due scheduled messages). Default 50 ms. */
  maintenanceIntervalMs?: number;
  /** Delay levels as `1s 5s …`. Default RocketMQ's 18 levels. */
  delayLevels?: string;
  /** Clock for deterministic tests. Default `Date`. */
  clock?: Clock;
  /** Receives internal errors that have no caller to reject (timers, handlers). Default: console.error. */
  onError?: (error: Error) => void;
  /** Receives warnings that need a person but are not failures (e.g. a half message with no checker). Default: console.warn. */
  onWarning?: (message: string) => void;
  /** A half message still unresolved this long after it was sent is checked back. Default 6 s. */
  transactionTimeoutMs?: number;
  /** Interval between checkbacks of an unresolved half message. Default 30 s. */
  checkIntervalMs?: number;
  /** Checkbacks of one half message before it moves to the discarded list. Default 15. */
  transactionCheckMax?: number;
  /**
   * Records of half messages resolved (committed, rolled back, or discarded after the last check) longer ago than this
   * are deleted by the retention pass. Default 7 days; null keeps them. Unresolved ones are never deleted.
   */
  halfMessageRetentionMs?: number | null;
}

export interface TopicOptions {
  /** Number of queues, 1–1024. Default: the engine's `defaultQueueCount`. */
  queueCount?: number;
}

export interface TopicInfo {
  name: string;
  queueCount: number;
  createdAt: number;
}

export type Headers = Record<string, string>;

export interface PublishMessage {
  /** Producer-assigned id. Republishing an id the engine still holds returns the first confirm. Generated (UUIDv7) when absent. */
  messageId?: string;
  topic: string;
  /** Business key: hashed to a queue so one key keeps its order. */
  key?: string;
  /** Tags, matched by subscription expressions such as `a || b`. */
  tags?: string | readonly string[];
  headers?: Headers;
  body: Buffer | Uint8Array | string;
  /** Deliver no earlier than this many ms from now. */
  delayMs?: number;
  /** Deliver no earlier than this epoch-ms instant. */
  deliverAt?: number;
  /** Deliver after this RocketMQ-style delay level (1-based). */
  delayLevel?: number;
  /** Not delivered after this many ms from publish: it goes to the DLQ as `expired`. */
  ttlMs?: number;
}

export interface PublishResult {
  messageId: string;
  topic: string;
  queueId: number;
  /** Offset in the queue. -1 while a delayed message waits for its time; see `deliverAt`. */
  queueOffset: number;
  /** Set for delayed messages: when it becomes visible. */
  deliverAt?: number;
  /** True when the id was already held and this is the first confirm returned again. */
  duplicate: boolean;
}

/** A message as handed to a consumer. */
export interface Delivery {
  /** Id of this stored copy. Retry and DLQ copies get new ids; see `originalMessageId`. */
  messageId: string;
  /** Id the producer gave the message; stable across retries and resends. */
  originalMessageId: string;
  /** The topic the producer published to (not the retry topic). */
  topic: string;
  /** Topic the copy was read from, e.g. `%RETRY%group`. */
  sourceTopic: string;
  queueId: number;
  queueOffset: number;
  key: string | null;
  tags: string[];
  headers: Headers;
  body: Buffer;
  bornAt: number;
  /** 0 on first delivery; counts failed attempts before this one. */
  reconsumeTimes: number;
  /** How many times this exact copy was handed out (redelivery after a consume timeout increments it). */
  deliveryCount: number;
}

export interface RetryPolicy {
  /** Failed attempts allowed before the DLQ. Default 16. */
  maxReconsumeTimes?: number;
  /** Per-subscription delay levels, e.g. `1s 2s 5s`. Default: the engine's. */
  delayLevels?: string;
  /** Orderly mode: pause before retrying a held queue. Default 1 s. */
  orderlyRetryPauseMs?: number;
}

export type MessageHandler = (delivery: Delivery) => Promise<void>;

export interface SubscribeOptions {
  group: string;
  topic: string;
  /** `*` (default) or `a || b`. */
  tags?: string;
  groupMode?: GroupMode;
  mode?: ConsumeMode;
  /**
   * Where a group that has no offsets on the topic yet starts: `earliest`, the first message still retained, or
   * `latest`, the end. Default: `earliest` for clustering groups, `latest` for broadcasting members. Ignored once
   * the group (or the broadcasting member) has consumed the topic.
   */
  startFrom?: StartFrom;
  /** Unacked messages per member. Default 32. */
  prefetch?: number;
  retry?: RetryPolicy;
  /** Stable id of this member. Broadcasting offsets are kept per member id. Default: random. */
  memberId?: string;
  handler: MessageHandler;
}

export interface Subscription {
  readonly group: string;
  readonly topic: string;
  readonly memberId: string;
  /** Queues currently assigned to this member, as `topic:queueId`. */
  assignedQueues(): string[];
  /** Stop taking messages, wait for in-flight handlers (up to `timeoutMs`), then leave the group. */
  close(timeoutMs?: number): Promise<void>;
}

export type DeadLetterStatus = 'dead' | 'resent' | 'discarded';

export interface DeadLetter {
  id: number;
  dlqTopic: string;
  group: string;
  topic: string;
  messageId: string;
  originalMessageId: string;
  key: string | null;
  tags: string[];
  headers: Headers;
  body: Buffer;
  reason: string;
  reconsumeTimes: number;
  bornAt: number;
  deadAt: number;
  status: DeadLetterStatus;
  statusReason: string | null;
  statusAt: number | null;
}

export interface DeadLetterQuery {
  group?: string;
  topic?: string;
  key?: string;
  /** Matches the copy's id or the original id. */
  messageId?: string;
  /** Substring of the recorded reason. */
  reasonContains?: string;
  from?: number;
  to?: number;
  /** Default `dead`. */
  status?: DeadLetterStatus | 'any';
  limit?: number;
  offset?: number;
}

export interface DeadLetterPage {
  total: number;
  items: DeadLetter[];
}

export interface ResendEdit {
  body?: Buffer | Uint8Array | string;
  headers?: Headers;
}

export interface QueueStats {
  queueId: number;
  minOffset: number;
  maxOffset: number;
}

export interface TopicStats {
  topic: string;
  queues: QueueStats[];
  publishRatePerSec: number;
}

export interface GroupTopicStats {
  group: string;
  topic: string;
  committedOffsets: Record<number, number>;
  lag: number;
  inFlight: number;
  retryPending: number;
  dlqCount: number;
  deliveryRatePerSec: number;
  /**
   * When the oldest message of the topic this group has not consumed yet (in flight included) was stored, in epoch
   * ms; null when the group has consumed everything. Now minus this is the group's lag in time.
   */
  oldestUnconsumedAt: number | null;
}

export interface EngineStats {
  topics: TopicStats[];
  groups: GroupTopicStats[];
  scheduledPending: number;
  databaseBytes: number;
  transactions: TransactionStats;
  commitLatency: CommitLatencyStats;
}

/** Durations of the engine's commits: each is a SQLite transaction and, with `flush: 'sync'`, its fsync. */
export interface CommitLatencyStats {
  /** Commits since the engine opened. */
  commits: number;
  /** Their total duration in ms; its rate divided by the rate of `commits` is the mean commit time. */
  totalMs: number;
  /** Over the last 512 commits (fewer just after opening). */
  recent: { commits: number; p50Ms: number; p99Ms: number; maxMs: number };
}

// ------------------------------------------------------ transactional messages

/** A producer's answer about its local transaction. `unknown` asks the broker to check back later. */
export type TransactionOutcome = 'commit' | 'rollback' | 'unknown';

/**
 * - `unresolved`: sent, invisible to consumers, waiting for commit, rollback or a checkback answer;
 * - `committed`: visible to consumers (once);
 * - `rolled_back`: never delivered; the record stays for audit;
 * - `discarded`: no answer after `transactionCheckMax` checks; waits for an operator (or a late producer answer).
 */
export type HalfMessageState = 'unresolved' | 'committed' | 'rolled_back' | 'discarded';

/** Who moved a half message to its final state. */
export type HalfResolvedBy = 'producer' | 'checkback' | 'operator';

export interface HalfSendOptions {
  /** Producer group whose checkers are asked about this message. */
  producerGroup: string;
}

export interface HalfSendResult {
  /** Id to commit or roll back with. */
  txId: string;
  messageId: string;
  topic: string;
  /** True when a half message with this id was already held; its first result is returned. */
  duplicate: boolean;
}

export interface HalfResolution {
  txId: string;
  messageId: string;
  topic: string;
  state: 'committed' | 'rolled_back';
  /** True when the half message was already in this state and nothing changed. */
  alreadyResolved: boolean;
}

/** A half message as checkers and operators see it. */
export interface HalfMessage {
  txId: string;
  messageId: string;
  producerGroup: string;
  topic: string;
  key: string | null;
  tags: string[];
  headers: Headers;
  body: Buffer;
  /** When the half message was stored. */
  sentAt: number;
  state: HalfMessageState;
  /** Checkbacks made so far (a check with no checker registered counts). */
  checkCount: number;
  /** When the next checkback is due while `unresolved`. */
  nextCheckAt: number;
  /** Why it was rolled back or discarded. */
  reason: string | null;
  resolvedAt: number | null;
  resolvedBy: HalfResolvedBy | null;
}

/**
 * Asked about one unresolved half message; answers from the producer's local state. A rejection or an answer other
 * than `commit` / `rollback` counts as `unknown`.
 */
export type HalfMessageChecker = (half: HalfMessage) => Promise<TransactionOutcome>;

export interface HalfMessageQuery {
  /** Default `discarded`. */
  state?: HalfMessageState | 'any';
  producerGroup?: string;
  topic?: string;
  /** Matches the transaction id or the message id. */
  id?: string;
  limit?: number;
  offset?: number;
}

export interface HalfMessagePage {
  total: number;
  items: HalfMessage[];
}

export interface TransactionStats {
  /** Half messages waiting for commit, rollback or a checkback answer. */
  unresolved: number;
  /** Half messages that ran out of checks and wait for an operator. */
  discarded: number;
}
