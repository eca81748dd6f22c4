import { Inject, Injectable } from '@nestjs/common';
import { EscapingLogger } from '../logging/escaping-logger';
import { messageLogFields } from '../logging/message-log-fields';
import { DeliveryReleasedError, uuidv7 } from '@reliable-mq/engine';
import { hostname } from 'node:os';
import { RELIABLE_MQ_DEDUP_STORE, RELIABLE_MQ_OPTIONS, RELIABLE_MQ_TRANSPORT } from '../constants';
import type { DedupStore } from '../dedup/dedup-store.interface';
import { NonRetryableError } from '../errors';
import type { ResolvedReliableMqOptions } from '../reliable-mq-options.resolver';
import type { InboundMessage, Transport, TransportSubscription } from '../transport/transport.interface';
import { isTransportUnavailable } from '../transport/transport-unavailability';
import {
  MessagingTelemetry,
  type ConsumerTelemetryTarget,
  type FailureFate,
} from '../observability/messaging-telemetry';
import { ConsumerExplorer, type DiscoveredHandler } from './consumer-explorer.service';
import { failureFate, type RetrySettings } from './failure-fate';
import type { MessageContext } from './message-context.interface';
import { parseAndValidate, payloadValidatorFor } from './payload-validator';

export interface HandlerCounters {
  handled: number;
  duplicates: number;
  failed: number;
}

const MAX_DEDUP_KEY_LENGTH = 512;

/**
 * Subscribes every discovered handler after bootstrap and stops them, draining, at shutdown.
 *
 * When the broker cannot be reached at startup, the application starts anyway: the handlers wait, and subscribe as
 * soon as the transport reports a connection (and again at the next one, for a handler whose subscribe was cut off).
 * From then on the transport keeps them subscribed across reconnections.
 */
/** What happens next to a failed delivery, for its log line. */
function fateText(fate: FailureFate): string {
  if (fate.kind === 'retry') return 'it will be retried';
  return fate.reason === 'non_retryable'
    ? 'it goes to the dead-letter queue (non-retryable)'
    : 'it goes to the dead-letter queue (retries used up)';
}

/** Thrown inside the dedup store's unit of work, which then rolls back, when the shutdown began first. */
class NotStartedAtShutdown extends Error {
  constructor() {
    super('the application is shutting down; the message goes back to the broker unhandled');
  }
}

@Injectable()
export class ConsumerRunner {
  private readonly logger = new EscapingLogger('ReliableMqConsumers');
  private subscriptions: TransportSubscription[] = [];
  private readonly counters = new Map<string, HandlerCounters>();
  private readonly telemetry: MessagingTelemetry;
  private readonly tracked = new Map<DiscoveredHandler, { target: ConsumerTelemetryTarget; retry: RetrySettings }>();
  private inflight = 0;
  private started = false;
  private stopped = false;
  /** Handlers not subscribed yet, because the broker could not be reached. */
  private waiting: DiscoveredHandler[] = [];
  private attaching: Promise<void> = Promise.resolve();
  private stopListening: (() => void) | undefined;
  /** One id for this application instance: its handlers of one group form a single group member. */
  readonly consumerId = `${hostname()}:${process.pid}:${uuidv7().slice(-12)}`;

  constructor(
    private readonly explorer: ConsumerExplorer,
    @Inject(RELIABLE_MQ_TRANSPORT) private readonly transport: Transport,
    @Inject(RELIABLE_MQ_DEDUP_STORE) private readonly dedup: DedupStore,
    @Inject(RELIABLE_MQ_OPTIONS) private readonly options: ResolvedReliableMqOptions,
  ) {
    this.telemetry = new MessagingTelemetry({
      transportKind: transport.kind,
      processSpan: options.tracing.processSpan,
    });
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.waiting = this.explorer.explore();
    if (this.waiting.length === 0) return;
    this.stopListening = this.transport.onConnectionChange?.((connected) => {
      if (connected) void this.attachWaiting(false);
    });
    if (this.transport.isConnected === false) {
      this.logger.warn(
        `The broker is not reachable yet: ${this.waiting.length} handler(s) start consuming as soon as it is.`,
      );
      return;
    }
    await this.attachWaiting(true);
  }

  /**
   * Subscribes the handlers still waiting, one at a time. At startup a refusal fails the application start, as a
   * wrong subscription should; later there is nobody to throw to, so it is logged and tried again at the next
   * connection. An unreachable broker ends the pass: the rest wait for the next connection.
   */
  private attachWaiting(atStartup: boolean): Promise<void> {
    const run = async (): Promise<void> => {
      for (const handler of [...this.waiting]) {
        if (this.stopped) return;
        let subscription: TransportSubscription;
        try {
          subscription = await this.subscribe(handler);
        } catch (error) {
          if (isTransportUnavailable(error, this.transport)) {
            this.logger.warn(
              `${handler.name} could not subscribe yet, the broker is not reachable (${(error as Error).message}); it will once the broker is back.`,
            );
            return;
          }
          if (atStartup) throw error;
          this.logger.error(
            `${handler.name} could not subscribe to "${handler.options.topic}" as group "${handler.options.group}"; trying again at the next connection: ${(error as Error).message}`,
          );
          continue;
        }
        this.waiting = this.waiting.filter((candidate) => candidate !== handler);
        if (this.stopped) {
          await subscription.close(0).catch(() => undefined);
          return;
        }
        this.subscriptions.push(subscription);
        this.logger.log(`${handler.name} consumes "${handler.options.topic}" as group "${handler.options.group}"`);
      }
    };
    // One pass at a time: a connection that comes back during a pass must not subscribe a handler twice.
    const next = this.attaching.then(run);
    this.attaching = next.catch(() => undefined);
    return next;
  }

  private subscribe(handler: DiscoveredHandler): Promise<TransportSubscription> {
    const { options } = handler;
    const defaults = this.options.consumers;
    return this.transport.subscribe(
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
  }

  /** Stops taking messages and waits, up to the timeout, for handlers in flight. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopped = true;
    this.stopListening?.();
    this.stopListening = undefined;
    // A subscribe in flight may wait for a broker that is away; whatever it yields later is closed at once.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.attaching,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    const subscriptions = this.subscriptions;
    this.subscriptions = [];
    await Promise.all(subscriptions.map((subscription) => subscription.close(timeoutMs)));
  }

  /** Handler calls running right now. */
  get inFlight(): number {
    return this.inflight;
  }

  /**
   * `running` from `start()` to `stop()`; `handlers` subscribed, and `waiting` for a broker that could not be reached
   * yet (they subscribe when it is).
   */
  status(): { running: boolean; handlers: number; waiting: number } {
    return {
      running: this.started && !this.stopped,
      handlers: this.subscriptions.length,
      waiting: this.waiting.length,
    };
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

  /** The handler's telemetry target and retry settings, worked out on its first delivery. */
  private trackingOf(handler: DiscoveredHandler): { target: ConsumerTelemetryTarget; retry: RetrySettings } {
    let tracking = this.tracked.get(handler);
    if (!tracking) {
      const { options } = handler;
      const defaults = this.options.consumers;
      tracking = {
        target: this.telemetry.consumerTarget(options.group, options.topic),
        retry: {
          maxReconsumeTimes: options.maxReconsumeTimes ?? defaults.maxReconsumeTimes,
          customLevels: (options.delayLevels ?? defaults.delayLevels) !== undefined,
          inPlace: (options.mode ?? defaults.mode) === 'orderly' || options.groupMode === 'broadcasting',
        },
      };
      this.tracked.set(handler, tracking);
    }
    return tracking;
  }

  private async handle(handler: DiscoveredHandler, message: InboundMessage): Promise<void> {
    const counter = this.counter(handler);
    const tracking = this.trackingOf(handler);
    const processing = this.telemetry.startProcess(tracking.target, message);
    this.inflight++;
    try {
      const duplicate = await processing.run(() => this.dispatch(handler, message, processing.dedupKey));
      processing.done(duplicate);
      if (duplicate) counter.duplicates++;
      else counter.handled++;
    } catch (error) {
      if (error instanceof NotStartedAtShutdown) {
        if (this.transport.releasesDeliveries) throw new DeliveryReleasedError(error.message);
        // Never settled: the subscription's close gives the message back to the broker when its timeout ends.
        return new Promise<never>(() => undefined);
      }
      const fate = failureFate(error, message.attempt, tracking.retry);
      processing.failed(error, fate);
      counter.failed++;
      this.logger.warn(
        `${handler.name} failed (attempt ${message.attempt + 1}): ${(error as Error)?.message ?? String(error)}; ${fateText(fate)}` +
          messageLogFields({ ...message, group: handler.options.group }),
      );
      throw error;
    } finally {
      this.inflight--;
    }
  }

  /** Checks the payload, then runs the handler under the dedup store; resolves true when dedup skipped it. */
  private async dispatch(
    handler: DiscoveredHandler,
    message: InboundMessage,
    noteDedupKey: (key: string) => void,
  ): Promise<boolean> {
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
    noteDedupKey(dedupKey);
    const method = (handler.instance as Record<string, (payload: unknown, ctx: MessageContext) => unknown>)[
      handler.methodName
    ]!;
    const outcome = await this.dedup.execute(handler.options.group, dedupKey, async (manager) => {
      // A delivery that waited (for the dedup store's transaction, a connection) until the shutdown began does not
      // start: the shutdown waits only for the handlers already running.
      if (this.stopped) throw new NotStartedAtShutdown();
      await method.call(handler.instance, payload, { ...base, dedupKey, manager });
    });
    if (outcome !== 'duplicate') return false;
    this.logger.debug(
      `${handler.name}: duplicate of "${dedupKey}" skipped` +
        messageLogFields({ ...message, group: handler.options.group }),
    );
    return true;
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
