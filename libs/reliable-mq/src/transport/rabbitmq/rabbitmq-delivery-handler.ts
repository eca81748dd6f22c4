import {
  compileTagFilter,
  describeError,
  isNonRetryable,
  requestedRetryDelay,
  type TagFilter,
} from '@reliable-mq/engine';
import type { Channel, ConsumeMessage } from 'amqplib';
import type { InboundHandler, SubscriptionSpec } from '../transport.interface';
import type { RabbitMqConnection } from './rabbitmq-connection';
import type { RabbitMqLogger } from './rabbitmq-logger.interface';
import { H, decodeMessage, headerNumber, tagsOf } from './rabbitmq-message.codec';
import type { RetryContext, RetryRouter } from './retry-router';

export interface DeliveryHandlerDeps {
  spec: SubscriptionSpec;
  handler: InboundHandler;
  router: RetryRouter;
  connection: RabbitMqConnection;
  logger: RabbitMqLogger;
  orderlyRetryPauseMs: number;
  /** Whether acks and in-place retries on this channel still count (it consumes the group, or reads its history). */
  live(channel: Channel): boolean;
  /** Whether the channel consumes the group's queues now; only there may a message be handed back with a nack. */
  consuming(channel: Channel): boolean;
  /** True once the subscription is closing: an orderly retry in place stops. */
  closing(): boolean;
  /** Acks the message on its channel (at once, or with the channel's next coalesced ack), ignoring a closed channel. */
  ack(channel: Channel, message: ConsumeMessage): void;
  /** Hands the message back to its queue now, ignoring a closed channel. */
  nack(channel: Channel, message: ConsumeMessage): void;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** Attempts at writing a retry or DLQ copy before the original is handed back to the broker. */
const SETTLE_ATTEMPTS = 3;

/** Acks at once, ignoring a channel that closed meanwhile: the message is then redelivered and dedup absorbs it. */
export function ackQuietly(channel: Channel, message: ConsumeMessage): void {
  try {
    channel.ack(message);
  } catch {
    // Channel closed meanwhile: the message is redelivered and dedup absorbs it.
  }
}

/** Hands a message back to its queue, ignoring a channel that closed meanwhile (RabbitMQ then requeues it anyway). */
export function nackQuietly(channel: Channel, message: ConsumeMessage): void {
  try {
    channel.nack(message, false, true);
  } catch {
    // The channel closed meanwhile; the broker requeues on its own.
  }
}

/**
 * What one delivery of a subscription comes to: the handler runs, and the message is acked only after its promise
 * resolved. A failure writes a copy with confirms before the original is acked: to the group's retry queue for the
 * next delay, or to its DLQ after `maxReconsumeTimes` failures or a non-retryable error. Orderly queues retry the
 * message in place instead, holding the queue. A message due later (`deliverAt`) is deferred, and one whose tags the
 * subscription does not want is acked and skipped.
 */
export class RabbitMqDeliveryHandler {
  private readonly tagFilter: TagFilter;

  constructor(private readonly deps: DeliveryHandlerDeps) {
    this.tagFilter = compileTagFilter(deps.spec.tags);
  }

  /**
   * Resolves true once the message is settled: handled and acked, or its retry or DLQ copy written and acked.
   * `earlier`: attempts that count although this delivery does not show them (a redelivered history entry).
   */
  async process(
    channel: Channel,
    context: RetryContext,
    message: ConsumeMessage,
    orderly: boolean,
    earlier = 0,
  ): Promise<boolean> {
    try {
      const deliverAt = headerNumber(message.properties.headers, H.deliverAt);
      if (deliverAt !== undefined && deliverAt > Date.now() + 2) {
        return await this.settle(channel, message, () =>
          this.deps.router.defer(context, message, deliverAt - Date.now()),
        );
      }
      // Tag filtering happens here: a message this subscription does not want is acked and skipped.
      if (!this.tagFilter(tagsOf(message))) {
        this.deps.ack(channel, message);
        return true;
      }
      if (orderly) return await this.handleInPlace(channel, context, message, earlier);
      return await this.handleOnce(channel, context, message, earlier);
    } catch (error) {
      this.deps.logger.error(
        `Unexpected failure handling a message from ${context.queue}: ${(error as Error).message}`,
      );
      return false;
    }
  }

  private async handleOnce(
    channel: Channel,
    context: RetryContext,
    message: ConsumeMessage,
    earlier = 0,
  ): Promise<boolean> {
    const inbound = decodeMessage(message, earlier);
    try {
      await this.deps.handler(inbound);
    } catch (error) {
      return this.afterFailure(channel, context, message, inbound.attempt, error);
    }
    this.deps.ack(channel, message);
    return true;
  }

  /** Orderly: retries the message holding the queue, in place, until it succeeds or is dead-lettered. */
  private async handleInPlace(
    channel: Channel,
    context: RetryContext,
    message: ConsumeMessage,
    earlier = 0,
  ): Promise<boolean> {
    for (let local = earlier; ; local++) {
      const inbound = decodeMessage(message, local);
      try {
        await this.deps.handler(inbound);
        this.deps.ack(channel, message);
        return true;
      } catch (error) {
        if (isNonRetryable(error) || inbound.attempt >= this.deps.spec.maxReconsumeTimes) {
          const reason = describeError(error);
          return this.settle(channel, message, () =>
            this.deps.router.deadLetter(context, message, inbound.attempt, reason),
          );
        }
        await sleep(requestedRetryDelay(error) ?? this.deps.orderlyRetryPauseMs);
        // Closing, or the channel is gone: the broker gives the message to the next active consumer, in order.
        if (this.deps.closing() || !this.deps.live(channel)) return false;
      }
    }
  }

  private async afterFailure(
    channel: Channel,
    context: RetryContext,
    message: ConsumeMessage,
    failedBefore: number,
    error: unknown,
  ): Promise<boolean> {
    const router = this.deps.router;
    if (isNonRetryable(error) || failedBefore >= this.deps.spec.maxReconsumeTimes) {
      const reason = describeError(error);
      return this.settle(channel, message, () => router.deadLetter(context, message, failedBefore, reason));
    }
    const delay = router.retryDelay(context, failedBefore, error);
    const exact = requestedRetryDelay(error) === undefined;
    return this.settle(channel, message, () => router.retry(context, message, failedBefore + 1, error, delay, exact));
  }

  /** Writes the copy (retry, DLQ or deferral) with confirms, then acks the original. */
  private async settle(channel: Channel, message: ConsumeMessage, write: () => Promise<void>): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      try {
        await write();
        this.deps.ack(channel, message);
        return true;
      } catch (error) {
        if (attempt >= SETTLE_ATTEMPTS || !this.deps.live(channel) || !this.deps.connection.isUp) {
          this.deps.logger.warn(
            `Could not write the retry/DLQ copy of message ${String(message.properties.messageId)}: ${(error as Error).message}. ` +
              'The original stays unacked and comes back.',
          );
          // Still unacked: the broker redelivers it (now, or after the reconnection). Never on a history stream,
          // where RabbitMQ answers a nack by closing the connection: the catch-up resumes instead.
          if (this.deps.consuming(channel)) this.deps.nack(channel, message);
          return false;
        }
        await sleep(200 * attempt);
      }
    }
  }
}
