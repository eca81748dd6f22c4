import type { DeadLetterStore } from '../dlq/dead-letter-store';
import {
  describeError,
  HEADER_LAST_ERROR,
  HEADER_ORIGIN_TOPIC,
  HEADER_ORIGINAL_ID,
  HEADER_RECONSUME_TIMES,
  isNonRetryable,
  requestedRetryDelay,
} from '../headers';
import type { QueueWriter } from '../publish/queue-writer';
import { decodeHeaders, encodeHeaders, newMessageOf, type MessageRow, type NewMessage } from '../storage/message-row';
import { delayForLevel } from '../util/duration';
import { dlqTopicOf, retryTopicOf } from '../util/names';
import { uuidv7 } from '../util/uuid-v7';
import { originTopicOf, reconsumeTimesOf } from './delivery-mapper';
import type { ResolvedRetry } from './member-runtime';
import { SUBSCRIPTION_LIMITS } from './subscription-limits';

/** A handler's failure, as the group that delivered the message sees it. */
export interface Failure {
  group: string;
  row: MessageRow;
  error: unknown;
  /** The subscription's retry policy; undefined when the member dropped the topic while the handler ran. */
  retry: ResolvedRetry | undefined;
  /**
   * Consumed in place (an orderly subscription, a broadcasting member): the failed attempts of the held message,
   * this one included. Null for a concurrent clustering subscription, whose retries are copies.
   */
  heldFailures: number | null;
}

/** What the group does with the failed message. */
export type FailureOutcome =
  /** Hand the same message out again after the pause; the queue waits behind it. */
  | { kind: 'hold'; pauseMs: number }
  /** A retry copy or a DLQ record is being written: ack the original once it is durable. */
  | { kind: 'settle'; written: Promise<void> };

interface FailureRouterDeps {
  writer: QueueWriter;
  deadLetters: DeadLetterStore;
  /** Runs the write in the next group commit; resolves once it is durable. */
  submit: (apply: () => void) => Promise<void>;
  now: () => number;
}

/**
 * What happens to a message its consumer failed, for one group (other groups are not affected):
 *
 * - a concurrent clustering subscription gets a copy in the group's retry topic (`%RETRY%group`), delayed one level
 *   further each time, until it failed `maxReconsumeTimes` times; then the message goes to the group's DLQ;
 * - an orderly subscription or a broadcasting member retries the same message in place after `orderlyRetryPauseMs`,
 *   holding its queue, and sends it to the DLQ once the held failures pass `maxReconsumeTimes`;
 * - a `NonRetryableError` goes to the DLQ at once; an error's `retryDelayMs` replaces the level's delay or the pause;
 * - a message past its TTL goes to the DLQ as `expired` instead of being delivered.
 *
 * The copy or the DLQ record is written in a commit; the group acks the original only once that commit is durable.
 */
export class FailureRouter {
  constructor(private readonly deps: FailureRouterDeps) {}

  route(failure: Failure): FailureOutcome {
    const { group, row, error, retry, heldFailures } = failure;
    const reason = describeError(error);
    const reconsume = reconsumeTimesOf(row);
    const maxTimes = retry?.maxReconsumeTimes ?? SUBSCRIPTION_LIMITS.maxReconsumeTimes.default;
    if (heldFailures !== null) {
      if (isNonRetryable(error) || heldFailures > maxTimes) {
        // Failures the copy went through before it was held here (its header) count as well.
        return this.settle(this.deadLetter(group, row, reason, heldFailures - 1 + reconsume));
      }
      return { kind: 'hold', pauseMs: requestedRetryDelay(error) ?? retry?.orderlyRetryPauseMs ?? 1000 };
    }
    if (isNonRetryable(error) || reconsume >= maxTimes) {
      return this.settle(this.deadLetter(group, row, reason, reconsume));
    }
    const levels = retry?.levels ?? [1000];
    // With the engine's levels the first retry waits level 3 (10 s by default), as RocketMQ's consumers do; a
    // subscription that lists its own levels starts at its first.
    const level = retry?.customLevels ? reconsume + 1 : 3 + reconsume;
    const delayMs = requestedRetryDelay(error) ?? delayForLevel(levels, level);
    return this.settle(this.retryLater(group, row, reconsume + 1, reason, delayMs));
  }

  /** A message whose TTL passed before its delivery: to the DLQ, never to the handler. */
  expired(group: string, row: MessageRow): Promise<void> {
    return this.deadLetter(group, row, 'expired', reconsumeTimesOf(row));
  }

  /**
   * Inside a commit: writes a copy of a message into a group's retry topic, visible after `delayMs`, so only that
   * group handles it again. Also how an operator resends a dead letter.
   */
  writeRetryCopy(group: string, source: NewMessage, headers: Record<string, string>, delayMs: number): void {
    const now = this.deps.now();
    const message: NewMessage = {
      ...source,
      messageId: uuidv7(now),
      topic: retryTopicOf(group),
      headers: encodeHeaders(headers),
    };
    this.deps.writer.write(message, delayMs > 0 ? now + delayMs : null, now, false);
  }

  private settle(written: Promise<void>): FailureOutcome {
    return { kind: 'settle', written };
  }

  private retryLater(group: string, row: MessageRow, reconsumeTimes: number, reason: string, delayMs: number) {
    return this.deps.submit(() => {
      const headers = decodeHeaders(row.headers);
      this.writeRetryCopy(
        group,
        newMessageOf(row, row.born_at, row.expire_at),
        {
          ...headers,
          [HEADER_ORIGIN_TOPIC]: originTopicOf(row),
          [HEADER_ORIGINAL_ID]: headers[HEADER_ORIGINAL_ID] ?? row.message_id,
          [HEADER_RECONSUME_TIMES]: String(reconsumeTimes),
          [HEADER_LAST_ERROR]: reason,
        },
        delayMs,
      );
    });
  }

  private deadLetter(group: string, row: MessageRow, reason: string, reconsumeTimes: number): Promise<void> {
    return this.deps.submit(() => {
      const headers = decodeHeaders(row.headers);
      this.deps.deadLetters.insert({
        dlqTopic: dlqTopicOf(group),
        group,
        topic: originTopicOf(row),
        messageId: row.message_id,
        originalMessageId: headers[HEADER_ORIGINAL_ID] ?? row.message_id,
        key: row.key,
        tags: row.tags,
        headers: row.headers,
        body: row.body,
        reason,
        reconsumeTimes,
        bornAt: row.born_at,
        deadAt: this.deps.now(),
      });
    });
  }
}
