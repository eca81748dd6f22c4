import { defaultStartFrom } from '@reliable-mq/engine';
import type { Channel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { randomUUID } from 'node:crypto';
import type { InboundHandler, SubscriptionSpec, TransportSubscription } from '../transport.interface';
import type { RabbitMqConnection } from './rabbitmq-connection';
import type { RabbitMqLogger } from './rabbitmq-logger.interface';
import { AckCoalescer } from './ack-coalescer';
import { ackQuietly, nackQuietly, RabbitMqDeliveryHandler } from './rabbitmq-delivery-handler';
import { QueueWatch, SettleMeter } from './rabbitmq-consumer-watch';
import { decodeMessage, headerNumber, queuedAtOf } from './rabbitmq-message.codec';
import type { RabbitMqTopology, WorkQueueSpec, WorkQueues } from './rabbitmq-topology';
import { bounded } from './bounded';
import {
  CatchUpStopped,
  HistoryCatchUp,
  isFence,
  isFirstCopy,
  queueFenceToken,
  type CatchUpDeps,
} from './history-catch-up';
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
  /** Set when topics keep a history: a clustering group's first subscription catches up from it. */
  history?: CatchUpDeps;
}

/** What a catch-up from the history drops from the group's queues until its fence comes out of each of them. */
interface HandOver {
  ids: Set<string>;
  token: string;
  waiting: Set<string>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** Pause before restoring a subscription whose channel failed while the connection stayed up. */
const RESTORE_PAUSE_MS = 1000;
/** Bound on each step of closing on a connection that may be dead. */
const CLOSE_STEP_MS = 2000;

/**
 * One subscription's consumers: a channel, a consumer per work queue, manual acks (each delivery is handled by a
 * `RabbitMqDeliveryHandler`).
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
  private readonly deliveries: RabbitMqDeliveryHandler;
  private readonly groupMode: 'clustering' | 'broadcasting';
  private readonly startFrom: 'earliest' | 'latest';
  private unsubscribeUp: (() => void) | null = null;
  private restoreTimer: NodeJS.Timeout | undefined;
  /** While true the catch-up owns attaching: reconnections and channel losses leave it to the catch-up's retries. */
  private catchingUp = false;
  private catchUpTask: Promise<void> | null = null;
  private historyChannel: Channel | null = null;
  private handOver: HandOver | null = null;
  private watches: QueueWatch[] = [];
  /** The coalesced acks of each channel consuming the group's queues (history channels ack one by one). */
  private readonly acks = new WeakMap<Channel, AckCoalescer>();
  /** Messages of the group's queues this subscription settled, for the backlog's consume rate. */
  readonly settled = new SettleMeter();
  /** Its queues have a single active consumer (an orderly clustering group). */
  readonly singleActive: boolean;

  constructor(
    readonly spec: SubscriptionSpec,
    handler: InboundHandler,
    private readonly deps: SubscriptionDeps,
  ) {
    this.deliveries = new RabbitMqDeliveryHandler({
      spec,
      handler,
      router: deps.router,
      connection: deps.connection,
      logger: deps.logger,
      orderlyRetryPauseMs: deps.orderlyRetryPauseMs,
      live: (channel) => this.live(channel),
      consuming: (channel) => channel === this.channel,
      closing: () => this.closing,
      ack: (channel, message) => {
        const acks = this.acks.get(channel);
        if (acks) acks.ack(message);
        else ackQuietly(channel, message);
      },
      nack: (channel, message) => {
        const acks = this.acks.get(channel);
        if (acks) acks.nack(message);
        else nackQuietly(channel, message);
      },
    });
    this.groupMode = spec.groupMode ?? 'clustering';
    this.startFrom = spec.startFrom ?? defaultStartFrom(this.groupMode);
    this.singleActive = spec.mode === 'orderly' && this.groupMode === 'clustering';
  }

  /** The queues this subscription consumes (none before it attached). */
  get workQueues(): readonly string[] {
    return this.work?.queues ?? [];
  }

  /** One watch per queue consumed now: none while the channel is down (its deliveries went back to the queues). */
  get queueWatches(): readonly QueueWatch[] {
    return this.channel ? this.watches : [];
  }

  /** Declares the queues and starts consuming; later reconnections repeat this by themselves. */
  async start(): Promise<void> {
    if (await this.startCatchUp()) return;
    await this.attach();
    this.unsubscribeUp = this.deps.connection.onUp(() => this.restore());
    const replayed = await this.replayParked();
    if (this.work?.created && this.groupMode === 'clustering') {
      // RabbitMQ keeps a message only in the queues bound when it was published: say what this new group missed.
      const parked =
        this.startFrom === 'earliest'
          ? `and what was parked while the topic had no group (${replayed} handed over by this subscription)`
          : 'but not what was parked while the topic had no group (startFrom "latest")';
      const lost = this.deps.history
        ? 'Earlier messages of the topic stay in its history for groups that start from the earliest.'
        : 'Messages that other groups of the topic took before now are not kept on RabbitMQ for a group that comes ' +
          'later (historyRetention 0).';
      this.deps.logger.log(
        `Group "${this.spec.group}" consumes topic "${this.spec.topic}" for the first time: it receives what is ` +
          `published from now on, ${parked}. ${lost}`,
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

  /**
   * A clustering group starting from the earliest whose queues do not exist yet, or whose catch-up did not finish,
   * first receives the topic's history; the catch-up runs in the background and retries until it is complete.
   */
  private async startCatchUp(): Promise<boolean> {
    const history = this.deps.history;
    if (!history || this.groupMode !== 'clustering' || this.startFrom !== 'earliest') return false;
    await this.deps.topology.ensureTopic(this.spec.topic);
    const catchUp = new HistoryCatchUp(history, this.spec.group, this.spec.topic);
    const first = this.deps.topology.firstWorkQueue(this.spec.group, this.spec.topic, this.spec.mode);
    if (!(await catchUp.needed(first))) return false;
    // The DLQ exists once subscribe resolves, as without a catch-up: operators and tools may look at it at once.
    await this.deps.topology.ensureDeadLetterQueues(this.spec.group);
    this.catchingUp = true;
    this.unsubscribeUp = this.deps.connection.onUp(() => this.restore());
    this.catchUpTask = this.catchUpUntilDone(catchUp);
    return true;
  }

  private async catchUpUntilDone(catchUp: HistoryCatchUp): Promise<void> {
    while (!this.closing) {
      if (!this.deps.connection.isUp) {
        await sleep(RESTORE_PAUSE_MS);
        continue;
      }
      try {
        await this.catchUpOnce(catchUp);
        this.catchingUp = false;
        await this.replayParked();
        return;
      } catch (error) {
        if (this.closing || error instanceof CatchUpStopped) return;
        this.deps.logger.warn(
          `Catching group "${this.spec.group}" up on topic "${this.spec.topic}" from its history stopped: ` +
            `${(error as Error).message}; it resumes from its saved position.`,
        );
        await sleep(RESTORE_PAUSE_MS);
      }
    }
  }

  private async catchUpOnce(catchUp: HistoryCatchUp): Promise<void> {
    const { topology } = this.deps;
    await topology.ensureTopic(this.spec.topic);
    await catchUp.lock(() => this.closing);
    try {
      let work: WorkQueues | null = null;
      const first = topology.firstWorkQueue(this.spec.group, this.spec.topic, this.spec.mode);
      const position = await catchUp.begin(first, async () => {
        work = await topology.ensureWorkQueues(this.workSpec());
      });
      if (position === null || work === null) {
        // Another instance completed it while this one waited for the lock.
        await this.attach();
        return;
      }
      const queues = (work as WorkQueues).queues;
      const orderly = this.spec.mode === 'orderly';
      const { window, delivered } = await catchUp.read(
        position,
        (message, channel, redelivered) => this.deliverFromHistory(channel, message, queues, redelivered),
        (message) =>
          orderly ? queueOf(message, queues) : `${headerNumber(message.properties.headers, 'x-stream-offset')}`,
        () => this.closing,
        // Orderly lanes take one entry at a time each; a buffer keeps every lane busy.
        orderly ? 256 : this.spec.prefetch,
      );
      this.historyChannel = null;
      const handOver: HandOver = { ids: window, token: randomUUID(), waiting: new Set(queues) };
      this.handOver = handOver;
      await this.attach();
      const channel = this.channel;
      await catchUp.fenceQueues(queues, handOver.token);
      while (handOver.waiting.size > 0) {
        if (this.closing) throw new CatchUpStopped();
        if (channel === null || this.channel !== channel) throw new Error('the channel consuming the group closed');
        await sleep(20);
      }
      await catchUp.finish();
      this.handOver = null;
      this.deps.logger.log(
        `Group "${this.spec.group}" consumes topic "${this.spec.topic}" for the first time: it received ` +
          `${delivered} message(s) from the topic's history (this instance's part of the catch-up), and what is ` +
          'published from now on.',
      );
    } catch (error) {
      // Consumers attached for the hand-over must not go on without it: the next attempt attaches again.
      this.historyChannel = null;
      this.handOver = null;
      const channel = this.channel;
      this.channel = null;
      if (channel) await this.closeChannel(channel);
      throw error;
    } finally {
      await catchUp.unlock();
    }
  }

  /** `redelivered`: an earlier attempt of the catch-up may have handed it over already; it counts as one attempt. */
  private deliverFromHistory(
    channel: Channel,
    message: ConsumeMessage,
    queues: readonly string[],
    redelivered: boolean,
  ): Promise<boolean> {
    this.historyChannel = channel;
    const context: RetryContext = {
      group: this.spec.group,
      queue: queueOf(message, queues),
      delayLevels: this.spec.delayLevels,
      defaultLevels: this.deps.defaultLevels,
    };
    const orderly = this.spec.mode === 'orderly';
    const task = this.deliveries.process(channel, context, message, orderly, redelivered ? 1 : 0);
    this.track(task.then(() => undefined));
    return task;
  }

  /** Whether acks and in-place retries on this channel still count. */
  private live(channel: Channel): boolean {
    return channel === this.channel || channel === this.historyChannel;
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
    if (this.catchUpTask) await bounded(this.catchUpTask, CLOSE_STEP_MS);
    if (channel) await this.closeChannel(channel);
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
    if (this.closing || this.catchingUp) return;
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

  private workSpec(): WorkQueueSpec {
    return {
      group: this.spec.group,
      topic: this.spec.topic,
      mode: this.spec.mode,
      groupMode: this.groupMode,
      maxReconsumeTimes: this.spec.maxReconsumeTimes,
      memberId: this.deps.memberId,
    };
  }

  private async attach(): Promise<void> {
    const { connection, topology } = this.deps;
    const work = await topology.ensureWorkQueues(this.workSpec());
    const model = connection.current();
    const channel = await model.createConfirmChannel();
    channel.on('error', () => undefined);
    channel.on('close', () => {
      if (this.channel !== channel) return;
      this.channel = null;
      // Closed by the broker while the connection lives on (for example a deleted queue): consume again.
      if (!this.closing && connection.isUp) this.scheduleRestore();
    });
    this.watches = [];
    this.channel = channel;
    try {
      await this.consumeOn(channel, work);
    } catch (error) {
      // Half set up: drop this channel (its deliveries go back to the queue) and let the caller retry.
      if (this.channel === channel) this.channel = null;
      await bounded(channel.close(), CLOSE_STEP_MS);
      throw error;
    }
    if (this.closing) await this.closeChannel(channel);
  }

  /** Closes a channel that consumed the group's queues, after sending the acks still due on it. */
  private async closeChannel(channel: Channel): Promise<void> {
    this.acks.get(channel)?.flush();
    await bounded(channel.close(), CLOSE_STEP_MS);
  }

  private async consumeOn(channel: ConfirmChannel, work: WorkQueues): Promise<void> {
    const orderly = this.singleActive;
    const acks = new AckCoalescer(channel);
    this.acks.set(channel, acks);
    await channel.prefetch(orderly ? 1 : this.spec.prefetch, false);
    const tags: string[] = [];
    const watches: QueueWatch[] = [];
    for (const queue of work.queues) {
      const watch = new QueueWatch(queue);
      watches.push(watch);
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
            if (this.channel === channel) void this.closeChannel(channel);
            return;
          }
          // Registered in delivery order, before anything awaits: a coalesced ack covers only settled deliveries.
          acks.delivered(message);
          this.track(this.onMessage(channel, acks, context, message, orderly, watch));
        },
        { noAck: false },
      );
      tags.push(reply.consumerTag);
    }
    this.work = work;
    this.consumerTags = tags;
    this.watches = watches;
  }

  private track(task: Promise<void>): void {
    this.inflight.add(task);
    void task.finally(() => this.inflight.delete(task));
  }

  private async onMessage(
    channel: ConfirmChannel,
    acks: AckCoalescer,
    context: RetryContext,
    message: ConsumeMessage,
    orderly: boolean,
    watch: QueueWatch,
  ): Promise<void> {
    watch.delivered = true;
    if (isFence(message)) {
      const handOver = this.handOver;
      if (handOver && queueFenceToken(message) === handOver.token) handOver.waiting.delete(context.queue);
      acks.ack(message);
      return;
    }
    // A copy of an entry the catch-up delivered from the history.
    if (this.handOver?.ids.has(decodeMessage(message).id) && isFirstCopy(message)) {
      acks.ack(message);
      return;
    }
    watch.held.set(message, queuedAtOf(message));
    try {
      if (await this.deliveries.process(channel, context, message, orderly)) this.settled.record();
    } finally {
      watch.held.delete(message);
    }
  }
}

/** The group's queue a message of this slot goes to: the one queue, or ordered queue `slot mod count`. */
function queueOf(message: ConsumeMessage, queues: readonly string[]): string {
  if (queues.length === 1) return queues[0]!;
  const slot = Number(message.fields.routingKey);
  return queues[Number.isInteger(slot) && slot >= 0 ? slot % queues.length : 0]!;
}
