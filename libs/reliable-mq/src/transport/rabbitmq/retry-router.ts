import { parseDelayLevels } from '@reliable-mq/engine';
import { describeError, requestedRetryDelay } from '@reliable-mq/engine';
import { delayForLevel } from '@reliable-mq/engine';
import type { Message } from 'amqplib';
import { randomInt } from 'node:crypto';
import type { ConfirmPublisher } from './confirm-publisher';
import {
  H,
  HEADER_LAST_ERROR,
  HEADER_ORIGIN_TOPIC,
  HEADER_ORIGINAL_ID,
  HEADER_RECONSUME_TIMES,
  copyOf,
  headerText,
} from './rabbitmq-message.codec';
import type { RabbitMqNames } from './rabbitmq-names';
import type { RabbitMqTopology } from './rabbitmq-topology';

/**
 * Delay queues used for waits that are not a configured retry level (a delivery time, or a handler's own
 * `retryDelayMs`): the longest step not above the remaining wait; the message is re-checked when it comes back,
 * so it is never early and a few hops at most make up any wait.
 */
const DEFER_STEPS = [50, 250, 1000, 5000, 10_000, 30_000, 60_000, 300_000, 600_000, 1_800_000, 3_600_000, 7_200_000];

export function deferStep(remainingMs: number): number {
  let step = DEFER_STEPS[0]!;
  for (const candidate of DEFER_STEPS) if (candidate <= remainingMs) step = candidate;
  return step;
}

/** A random positive integer below 2^53: a dead letter's id, unique for any practical number of letters. */
export function newDeadLetterId(): number {
  const id = randomInt(0, 2 ** 21) * 2 ** 32 + randomInt(0, 2 ** 32);
  return id === 0 ? 1 : id;
}

export interface RetryContext {
  group: string;
  /** The work queue the message was read from; a retry goes back there. */
  queue: string;
  /** The subscription's own levels, or undefined for the transport's levels. */
  delayLevels: string | undefined;
  defaultLevels: string;
}

/**
 * Where a failed or early message goes. Each method publishes a copy with confirms and resolves once the copy is
 * durable; the caller acks the original only then, so a crash in between leaves the original to be redelivered
 * (a duplicate that dedup absorbs), never a loss.
 */
export class RetryRouter {
  constructor(
    private readonly publisher: ConfirmPublisher,
    private readonly topology: RabbitMqTopology,
    private readonly names: RabbitMqNames,
  ) {}

  /**
   * Delay of the next retry after `failedBefore` failures (the engine's rule): with the subscription's own levels
   * retry n waits level n; with the default levels it waits level 3 + n (first retry after 10 s). The last level
   * repeats.
   */
  retryDelay(context: RetryContext, failedBefore: number, error: unknown): number {
    const requested = requestedRetryDelay(error);
    if (requested !== undefined) return requested;
    const custom = context.delayLevels !== undefined;
    const levels = parseDelayLevels(context.delayLevels ?? context.defaultLevels);
    return delayForLevel(levels, custom ? failedBefore + 1 : 3 + failedBefore);
  }

  /** Sends a copy with `attempts` failures recorded to wait `delayMs`, then come back to the same work queue. */
  async retry(
    context: RetryContext,
    message: Message,
    attempts: number,
    error: unknown,
    delayMs: number,
    exact: boolean,
  ): Promise<void> {
    const headers: Record<string, string> = {
      [HEADER_RECONSUME_TIMES]: String(attempts),
      [HEADER_LAST_ERROR]: describeError(error),
      ...this.origin(message),
    };
    await this.delay(context, message, headers, delayMs, exact);
  }

  /** Sends a message whose delivery time has not come to wait, unchanged otherwise. */
  async defer(context: RetryContext, message: Message, remainingMs: number): Promise<void> {
    await this.delay(context, message, {}, remainingMs, false);
  }

  /** Writes the message to its group's DLQ with the reason, the failures counted and where it came from. */
  async deadLetter(context: RetryContext, message: Message, attempts: number, reason: string): Promise<void> {
    await this.topology.ensureDeadLetterQueues(context.group);
    const copy = copyOf(message, {
      ...this.origin(message),
      [HEADER_RECONSUME_TIMES]: String(attempts),
      [HEADER_LAST_ERROR]: reason,
      [H.dlqId]: String(newDeadLetterId()),
      [H.dlqGroup]: context.group,
      [H.deadAt]: String(Date.now()),
      [H.returnQueue]: context.queue,
    });
    delete copy.options.headers![H.retryQueue];
    delete copy.options.headers![H.deliverAt];
    await this.publisher.publish([{ exchange: '', routingKey: this.names.deadLetterQueue(context.group), ...copy }]);
  }

  private async delay(
    context: RetryContext,
    message: Message,
    headers: Record<string, string>,
    delayMs: number,
    exact: boolean,
  ): Promise<void> {
    const wait = Math.max(1, Math.round(delayMs));
    const step = exact ? wait : deferStep(wait);
    const queue = await this.topology.ensureRetryQueue(context.group, step);
    const extra: Record<string, string> = { ...headers, [H.retryQueue]: queue };
    // A wait that one retry queue does not cover is finished by further hops, checked against this instant.
    if (!exact && step < wait) extra[H.deliverAt] = String(Date.now() + wait);
    const copy = copyOf(message, extra);
    if (exact || step >= wait) delete copy.options.headers![H.deliverAt];
    await this.publisher.publish([{ exchange: this.names.retryExchange(), routingKey: context.queue, ...copy }]);
  }

  private origin(message: Message): Record<string, string> {
    const headers = message.properties.headers ?? {};
    return {
      [HEADER_ORIGIN_TOPIC]: headerText(headers[HEADER_ORIGIN_TOPIC]) ?? headerText(headers[H.topic]) ?? '',
      [HEADER_ORIGINAL_ID]: headerText(headers[HEADER_ORIGINAL_ID]) ?? headerText(message.properties.messageId) ?? '',
    };
  }
}
