import { Inject, Injectable, Logger } from '@nestjs/common';
import { uuidv7 } from '@reliable-mq/engine';
import { hostname } from 'node:os';
import { RELIABLE_MQ_DEDUP_STORE, RELIABLE_MQ_OPTIONS, RELIABLE_MQ_TRANSPORT } from '../constants';
import type { DedupStore } from '../dedup/dedup-store.interface';
import { NonRetryableError } from '../errors';
import type { ResolvedReliableMqOptions } from '../reliable-mq-options.resolver';
import type { InboundMessage, Transport, TransportSubscription } from '../transport/transport.interface';
import { ConsumerExplorer, type DiscoveredHandler } from './consumer-explorer.service';
import type { MessageContext } from './message-context.interface';
import { parseAndValidate, payloadValidatorFor } from './payload-validator';

export interface HandlerCounters {
  handled: number;
  duplicates: number;
  failed: number;
}

const MAX_DEDUP_KEY_LENGTH = 512;

/** Subscribes every discovered handler after bootstrap and stops them, draining, at shutdown. */
@Injectable()
export class ConsumerRunner {
  private readonly logger = new Logger('ReliableMqConsumers');
  private subscriptions: TransportSubscription[] = [];
  private readonly counters = new Map<string, HandlerCounters>();
  private inflight = 0;
  private started = false;
  /** One id for this application instance: its handlers of one group form a single group member. */
  readonly consumerId = `${hostname()}:${process.pid}:${uuidv7().slice(-12)}`;

  constructor(
    private readonly explorer: ConsumerExplorer,
    @Inject(RELIABLE_MQ_TRANSPORT) private readonly transport: Transport,
    @Inject(RELIABLE_MQ_DEDUP_STORE) private readonly dedup: DedupStore,
    @Inject(RELIABLE_MQ_OPTIONS) private readonly options: ResolvedReliableMqOptions,
  ) {}

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const handler of this.explorer.explore()) {
      const { options } = handler;
      const defaults = this.options.consumers;
      const subscription = await this.transport.subscribe(
        {
          group: options.group,
          topic: options.topic,
          tags: options.tags,
          mode: options.mode ?? defaults.mode,
          prefetch: options.prefetch ?? defaults.prefetch,
          maxReconsumeTimes: options.maxReconsumeTimes ?? defaults.maxReconsumeTimes,
          delayLevels: options.delayLevels ?? defaults.delayLevels,
          startFrom: options.startFrom ?? defaults.startFrom,
          consumerId: this.consumerId,
          groupMode: options.groupMode,
          validator: payloadValidatorFor(options, handler.name),
        },
        (message) => this.handle(handler, message),
      );
      this.subscriptions.push(subscription);
      this.logger.log(`${handler.name} consumes "${options.topic}" as group "${options.group}"`);
    }
  }

  /** Stops taking messages and waits, up to the timeout, for handlers in flight. */
  async stop(timeoutMs: number): Promise<void> {
    const subscriptions = this.subscriptions;
    this.subscriptions = [];
    await Promise.all(subscriptions.map((subscription) => subscription.close(timeoutMs)));
  }

  /** Handler calls running right now. */
  get inFlight(): number {
    return this.inflight;
  }

  countersFor(group: string, topic: string): HandlerCounters {
    return { ...(this.counters.get(`${group}\u0000${topic}`) ?? { handled: 0, duplicates: 0, failed: 0 }) };
  }

  private counter(handler: DiscoveredHandler): HandlerCounters {
    const id = `${handler.options.group}\u0000${handler.options.topic}`;
    let counter = this.counters.get(id);
    if (!counter) this.counters.set(id, (counter = { handled: 0, duplicates: 0, failed: 0 }));
    return counter;
  }

  private async handle(handler: DiscoveredHandler, message: InboundMessage): Promise<void> {
    const counter = this.counter(handler);
    this.inflight++;
    try {
      const payload = await parseAndValidate(message.body, handler.options);
      const base: Omit<MessageContext, 'dedupKey' | 'manager'> = {
        id: message.id,
        topic: message.topic,
        group: handler.options.group,
        key: message.key,
        tags: message.tags,
        headers: message.headers,
        attempt: message.attempt,
      };
      const dedupKey = this.dedupKeyOf(handler, payload, base);
      const method = (handler.instance as Record<string, (payload: unknown, ctx: MessageContext) => unknown>)[
        handler.methodName
      ]!;
      const outcome = await this.dedup.execute(handler.options.group, dedupKey, async (manager) => {
        await method.call(handler.instance, payload, { ...base, dedupKey, manager });
      });
      if (outcome === 'duplicate') {
        counter.duplicates++;
        this.logger.debug(`${handler.name}: duplicate of "${dedupKey}" skipped`);
      } else {
        counter.handled++;
      }
    } catch (error) {
      counter.failed++;
      this.logger.warn(
        `${handler.name} failed on message ${message.id} (attempt ${message.attempt + 1}): ${(error as Error)?.message ?? String(error)}`,
      );
      throw error;
    } finally {
      this.inflight--;
    }
  }

  private dedupKeyOf(
    handler: DiscoveredHandler,
    payload: unknown,
    ctx: Omit<MessageContext, 'dedupKey' | 'manager'>,
  ): string {
    if (!handler.options.dedupKey) return ctx.id;
    let key: unknown;
    try {
      key = handler.options.dedupKey(payload, ctx);
    } catch (error) {
      throw new NonRetryableError(`dedupKey of ${handler.name} threw: ${(error as Error).message}`);
    }
    if (typeof key === 'number') key = String(key);
    if (typeof key !== 'string' || key.length === 0 || key.length > MAX_DEDUP_KEY_LENGTH) {
      throw new NonRetryableError(
        `dedupKey of ${handler.name} must return a non-empty string of at most ${MAX_DEDUP_KEY_LENGTH} characters; got ${JSON.stringify(key)}.`,
      );
    }
    return key;
  }
}
