import type { DeadLetter, DeadLetterPage, DeadLetterQuery, ResendEdit } from '@reliable-mq/engine';

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
  startFrom?: 'latest' | 'earliest';
}

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
 * - after `close()` nothing more is delivered and `publish` rejects.
 */
export interface Transport {
  readonly kind: string;
  connect(): Promise<void>;
  /** Declares a topic (idempotent). Transports that create topics on demand may do nothing. */
  ensureTopic(topic: string): Promise<void>;
  publish(batch: readonly TransportMessage[]): Promise<TransportConfirm[]>;
  subscribe(spec: SubscriptionSpec, handler: InboundHandler): Promise<TransportSubscription>;
  readonly deadLetters: DeadLetterOperations;
  close(): Promise<void>;
}
