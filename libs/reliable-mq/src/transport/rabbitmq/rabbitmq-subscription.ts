import { isNonRetryable } from '@reliable-mq/engine';
import { describeError, requestedRetryDelay } from '@reliable-mq/engine';
import { compileTagFilter, defaultStartFrom, type TagFilter } from '@reliable-mq/engine';
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { InboundHandler, SubscriptionSpec, TransportSubscription } from '../transport.interface';
import type { RabbitMqConnection } from './rabbitmq-connection';
import type { RabbitMqLogger } from './rabbitmq-logger.interface';
import { H, decodeMessage, headerNumber, tagsOf } from './rabbitmq-message.codec';
import type { RabbitMqTopology, WorkQueues } from './rabbitmq-topology';
import { bounded } from './bounded';
import type { RetryContext, RetryRouter } from './retry-router';

export interface SubscriptionDeps {
  connection: RabbitMqConnection;
  topology: RabbitMqTopology;
  router: RetryRouter;
  logger: RabbitMqLogger;
  defaultLevels: string;
  orderlyRetryPauseMs: number;
  memberId: string;
  /** Called once the subscription is closed, so the transport forgets it. */
  onClosed(subscription: RabbitMqSubscription): void;
  /** Moves the topic's parked messages to the queues now bound (startFrom: 'earliest'); resolves with how many. */
  replayUnrouted(topic: string): Promise<number>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** Attempts at writing a retry or DLQ copy before the original is handed back to the broker. */
const SETTLE_ATTEMPTS = 3;
/** Pause before restoring a subscription whose channel failed while the connection stayed up. */
const RESTORE_PAUSE_MS = 1000;
/** Bound on each step of closing on a connection that may be dead. */
const CLOSE_STEP_MS = 2000;

/**
 * One subscription's consumers: a channel, a consumer per work queue, manual acks.
 *
 * - concurrent: up to `prefetch` unacked messages; a failure publishes a copy to the group's retry queue for the
 *   next delay (with confirms), then acks the original. After `maxReconsumeTimes` failures, or on a
 *   non-retryable error, the copy goes to the group's DLQ instead.
 * - orderly: a consumer per ordered queue with prefetch 1 on single-active-consumer queues, so one message per
 *   queue is in flight, in queue order. A failure holds the queue: the same message is retried in place after
 *   `orderlyRetryPauseMs`; after `maxReconsumeTimes` failures it goes to the DLQ and the queue moves on.
 * - broadcasting: the member's own queue, handled as concurrent; the queue is deleted when the member closes.
 *
 * After a reconnection the subscription declares its queues again and consumes on a new channel. What was in
 * flight on the lost channel is redelivered by the broker (with `x-delivery-count` raised), and dedup absorbs the
 * duplicates; late acks for the lost channel are dropped.
 */
export class RabbitMqSubscription implements TransportSubscription {
  private channel: ConfirmChannel | null = null;
  private consumerTags: string[] = [];
  private work: WorkQueues | null = null;
  private readonly inflight = new Set<Promise<void>>();
  private closing = false;
  private closed: Promise<void> | null = null;
  private readonly tagFilter: TagFilter;
  private readonly groupMode: 'clustering' | 'broadcasting';
  private readonly startFrom: 'earliest' | 'latest';
  private unsubscribeUp: (() => void) | null = null;
  private restoreTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly spec: SubscriptionSpec,
    private readonly handler: InboundHandler,
    private readonly deps: SubscriptionDeps,
  ) {
    this.tagFilter = compileTagFilter(spec.tags);
    this.groupMode = spec.groupMode ?? 'clustering';
    this.startFrom = spec.startFrom ?? defaultStartFrom(this.groupMode);
  }

  /** The queues this subscription consumes (none before it attached). */
  get workQueues(): readonly string[] {
    return this.work?.queues ?? [];
  }

  /** Declares the queues and starts consuming; later reconnections repeat this by themselves. */
  async start(): Promise<void> {
    await this.attach();
    this.unsubscribeUp = this.deps.connection.onUp(() => this.restore());
    const replayed = await this.replayParked();
    if (this.work?.created && this.groupMode === 'clustering') {
      // RabbitMQ keeps a message only in the queues bound when it was published: say what this new group missed.
      const parked =
        this.startFrom === 'earliest'
          ? `and what was parked while the topic had no group (${replayed} handed over by this subscription)`
          : 'but not what was parked while the topic had no group (startFrom "latest")';
      this.deps.logger.log(
        `Group "${this.spec.group}" consumes topic "${this.spec.topic}" for the first time: it receives what is ` +
          `published from now on, ${parked}. Messages that other groups of the topic took before now are not kept ` +
          'on RabbitMQ for a group that comes later.',
      );
    }
  }

  /**
   * Hands the topic's parked messages to the groups bound now, when this subscription starts from the earliest.
   * A failure leaves them parked (the next start or reconnection tries again), so it is logged, not thrown.
   */
  private async replayParked(): Promise<number> {
    if (this.startFrom !== 'earliest' || this.closing) return 0;
    try {
      return await this.deps.replayUnrouted(this.spec.topic);
    } catch (error) {
      this.deps.logger.warn(
        `Could not hand the parked messages of topic "${this.spec.topic}" to group "${this.spec.group}": ` +
          `${(error as Error).message}; they stay parked and are handed over at the next start or reconnection.`,
      );
      return 0;
    }
  }

  close(timeoutMs = 10_000): Promise<void> {
    return (this.closed ??= this.shutdown(timeoutMs));
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    this.closing = true;
    clearTimeout(this.restoreTimer);
    this.unsubscribeUp?.();
    const channel = this.channel;
    if (channel) {
      for (const tag of this.consumerTags) await bounded(channel.cancel(tag), CLOSE_STEP_MS);
    }
    if (this.inflight.size > 0) {
      await Promise.race([Promise.allSettled([...this.inflight]), sleep(timeoutMs)]);
    }
    if (channel) await bounded(channel.close(), CLOSE_STEP_MS);
    this.channel = null;
    if (this.work?.memberQueue && this.deps.connection.isUp) {
      for (const queue of this.work.queues) {
        await this.deps.topology
          .deleteQueue(queue)
          .catch((error: unknown) =>
            this.deps.logger.warn(
              `Could not delete broadcasting queue ${queue}: ${(error as Error).message}; it expires by itself.`,
            ),
          );
      }
    }
    this.deps.onClosed(this);
  }

  private async restore(): Promise<void> {
    if (this.closing) return;
    try {
      await this.attach();
      await this.replayParked();
    } catch (error) {
      if (this.closing) return;
      this.deps.logger.error(
        `Could not resubscribe group "${this.spec.group}" to "${this.spec.topic}": ${(error as Error).message}; trying again.`,
      );
      this.scheduleRestore();
    }
  }

  private scheduleRestore(): void {
    clearTimeout(this.restoreTimer);
    this.restoreTimer = setTimeout(() => {
      if (this.deps.connection.isUp) void this.restore();
    }, RESTORE_PAUSE_MS);
  }

  private async attach(): Promise<void> {
    const { connection, topology } = this.deps;
    const work = await topology.ensureWorkQueues({
      group: this.spec.group,
      topic: this.spec.topic,
      mode: this.spec.mode,
      groupMode: this.groupMode,
      maxReconsumeTimes: this.spec.maxReconsumeTimes,
      memberId: this.deps.memberId,
    });
    const model = connection.current();
    const channel = await model.createConfirmChannel();
    channel.on('error', () => undefined);
    channel.on('close', () => {
      if (this.channel !== channel) return;
      this.channel = null;
      // Closed by the broker while the connection lives on (for example a deleted queue): consume again.
      if (!this.closing && connection.isUp) this.scheduleRestore();
    });
    this.channel = channel;
    try {
      await this.consumeOn(channel, work);
    } catch (error) {
      // Half set up: drop this channel (its deliveries go back to the queue) and let the caller retry.
      if (this.channel === channel) this.channel = null;
      await bounded(channel.close(), CLOSE_STEP_MS);
      throw error;
    }
    if (this.closing) await bounded(channel.close(), CLOSE_STEP_MS);
  }

  private async consumeOn(channel: ConfirmChannel, work: WorkQueues): Promise<void> {
    const orderly = this.spec.mode === 'orderly' && this.groupMode === 'clustering';
    await channel.prefetch(orderly ? 1 : this.spec.prefetch, false);
    const tags: string[] = [];
    for (const queue of work.queues) {
      const context: RetryContext = {
        group: this.spec.group,
        queue,
        delayLevels: this.spec.delayLevels,
        defaultLevels: this.deps.defaultLevels,
      };
      const reply = await channel.consume(
        queue,
        (message) => {
          if (message === null) {
            this.deps.logger.warn(`RabbitMQ cancelled the consumer of ${queue} (queue deleted?); subscribing again.`);
            if (this.channel === channel) void channel.close().catch(() => undefined);
            return;
          }
          this.track(this.onMessage(channel, context, message, orderly));
        },
        { noAck: false },
      );
      tags.push(reply.consumerTag);
    }
    this.work = work;
    this.consumerTags = tags;
  }

  private track(task: Promise<void>): void {
    this.inflight.add(task);
    void task.finally(() => this.inflight.delete(task));
  }

  private async onMessage(
    channel: ConfirmChannel,
    context: RetryContext,
    message: ConsumeMessage,
    orderly: boolean,
  ): Promise<void> {
    try {
      const deliverAt = headerNumber(message.properties.headers, H.deliverAt);
      if (deliverAt !== undefined && deliverAt > Date.now() + 2) {
        await this.settle(channel, message, () => this.deps.router.defer(context, message, deliverAt - Date.now()));
        return;
      }
      // Tag filtering happens here: a message this subscription does not want is acked and skipped.
      if (!this.tagFilter(tagsOf(message))) {
        this.ack(channel, message);
        return;
      }
      if (orderly) await this.handleInPlace(channel, context, message);
      else await this.handleOnce(channel, context, message);
    } catch (error) {
      this.deps.logger.error(
        `Unexpected failure handling a message from ${context.queue}: ${(error as Error).message}`,
      );
    }
  }

  private async handleOnce(channel: ConfirmChannel, context: RetryContext, message: ConsumeMessage): Promise<void> {
    const inbound = decodeMessage(message);
    try {
      await this.handler(inbound);
    } catch (error) {
      await this.afterFailure(channel, context, message, inbound.attempt, error);
      return;
    }
    this.ack(channel, message);
  }

  /** Orderly: retries the message holding the queue, in place, until it succeeds or is dead-lettered. */
  private async handleInPlace(channel: ConfirmChannel, context: RetryContext, message: ConsumeMessage): Promise<void> {
    for (let local = 0; ; local++) {
      const inbound = decodeMessage(message, local);
      try {
        await this.handler(inbound);
        this.ack(channel, message);
        return;
      } catch (error) {
        if (isNonRetryable(error) || inbound.attempt >= this.spec.maxReconsumeTimes) {
          const reason = describeError(error);
          await this.settle(channel, message, () =>
            this.deps.router.deadLetter(context, message, inbound.attempt, reason),
          );
          return;
        }
        await sleep(requestedRetryDelay(error) ?? this.deps.orderlyRetryPauseMs);
        // Closing, or the channel is gone: the broker gives the message to the next active consumer, in order.
        if (this.closing || this.channel !== channel) return;
      }
    }
  }

  private async afterFailure(
    channel: ConfirmChannel,
    context: RetryContext,
    message: ConsumeMessage,
    failedBefore: number,
    error: unknown,
  ): Promise<void> {
    const router = this.deps.router;
    if (isNonRetryable(error) || failedBefore >= this.spec.maxReconsumeTimes) {
      const reason = describeError(error);
      await this.settle(channel, message, () => router.deadLetter(context, message, failedBefore, reason));
      return;
    }
    const delay = router.retryDelay(context, failedBefore, error);
    const exact = requestedRetryDelay(error) === undefined;
    await this.settle(channel, message, () => router.retry(context, message, failedBefore + 1, error, delay, exact));
  }

  /** Writes the copy (retry, DLQ or deferral) with confirms, then acks the original. */
  private async settle(channel: ConfirmChannel, message: ConsumeMessage, write: () => Promise<void>): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await write();
        this.ack(channel, message);
        return;
      } catch (error) {
        if (attempt >= SETTLE_ATTEMPTS || this.channel !== channel || !this.deps.connection.isUp) {
          this.deps.logger.warn(
            `Could not write the retry/DLQ copy of message ${String(message.properties.messageId)}: ${(error as Error).message}. ` +
              'The original stays unacked and comes back.',
          );
          // Still unacked: the broker redelivers it (now, or after the reconnection).
          if (this.channel === channel) {
            try {
              channel.nack(message, false, true);
            } catch {
              // The channel closed meanwhile; the broker requeues on its own.
            }
          }
          return;
        }
        await sleep(200 * attempt);
      }
    }
  }

  private ack(channel: ConfirmChannel, message: ConsumeMessage): void {
    try {
      channel.ack(message);
    } catch {
      // Channel closed meanwhile: the message is redelivered and dedup absorbs it.
    }
  }
}
