import type { ConsumeMode, GroupMode, StartFrom, SubscribeOptions } from '../engine.types';
import { InvalidArgumentError } from '../errors';
import { parseDelayLevels } from '../util/duration';
import { validateName } from '../util/names';
import { compileTagFilter, type TagFilter } from '../util/tag-filter';
import { uuidv7 } from '../util/uuid-v7';
import type { ResolvedRetry } from './member-runtime';
import { defaultStartFrom } from './start-position';
import { SUBSCRIPTION_LIMITS, withinLimit } from './subscription-limits';

/**
 * What a process hosting the engine for remote members (the standalone broker) may also pass to `subscribe`. Not in
 * the public `SubscribeOptions`: an application's in-process member always heartbeats on the engine's timer.
 */
export interface HostedSubscribeOptions extends SubscribeOptions {
  /**
   * False for a member whose liveness the host proves (a connection's traffic), which then calls
   * `BrokerEngine.heartbeat`; the engine's timer no longer keeps it alive. Default true.
   */
  autoHeartbeat?: boolean;
}

/** A subscription with every default applied and every value checked. */
export interface ResolvedSubscription {
  group: string;
  topic: string;
  mode: ConsumeMode;
  groupMode: GroupMode;
  startFrom: StartFrom;
  prefetch: number;
  memberId: string;
  retry: ResolvedRetry;
  tagFilter: TagFilter;
  autoHeartbeat: boolean;
}

const ORDERLY_RETRY_PAUSE_MS = 1000;

/**
 * Applies a subscription's defaults and refuses a bad value before anything is recorded, with a sentence that names
 * the option and what it accepts. `engineDelayLevels` applies when the subscription lists no levels of its own.
 */
export function resolveSubscription(
  options: HostedSubscribeOptions,
  engineDelayLevels: number[],
): ResolvedSubscription {
  if (typeof options !== 'object' || options === null)
    throw new InvalidArgumentError('subscribe() needs an options object.');
  const group = validateName('group', options.group);
  const topic = validateName('topic', options.topic);
  if (typeof options.handler !== 'function') {
    throw new InvalidArgumentError(`subscribe() for group "${group}" needs a handler function.`);
  }
  const mode = options.mode ?? 'concurrent';
  if (mode !== 'concurrent' && mode !== 'orderly') {
    throw new InvalidArgumentError(`mode must be "concurrent" or "orderly"; got ${JSON.stringify(mode)}.`);
  }
  const groupMode = options.groupMode ?? 'clustering';
  if (groupMode !== 'clustering' && groupMode !== 'broadcasting') {
    throw new InvalidArgumentError(
      `groupMode must be "clustering" or "broadcasting"; got ${JSON.stringify(groupMode)}.`,
    );
  }
  const startFrom = options.startFrom ?? defaultStartFrom(groupMode);
  if (startFrom !== 'latest' && startFrom !== 'earliest') {
    throw new InvalidArgumentError(`startFrom must be "latest" or "earliest"; got ${JSON.stringify(startFrom)}.`);
  }
  const prefetch = options.prefetch ?? SUBSCRIPTION_LIMITS.prefetch.default;
  if (!withinLimit(prefetch, SUBSCRIPTION_LIMITS.prefetch)) {
    const { min, max } = SUBSCRIPTION_LIMITS.prefetch;
    throw new InvalidArgumentError(
      `prefetch must be an integer from ${min} to ${max}; got ${JSON.stringify(prefetch)}.`,
    );
  }
  const { maxReconsumeTimes, orderlyRetryPauseMs } = resolveRetryLimits(options);
  const memberId = options.memberId ?? uuidv7();
  if (typeof memberId !== 'string' || memberId.length === 0 || memberId.length > 128) {
    throw new InvalidArgumentError('memberId must be a string of 1–128 characters.');
  }
  return {
    group,
    topic,
    mode,
    groupMode,
    startFrom,
    prefetch,
    memberId,
    retry: {
      maxReconsumeTimes,
      levels: options.retry?.delayLevels ? parseDelayLevels(options.retry.delayLevels) : engineDelayLevels,
      customLevels: options.retry?.delayLevels !== undefined,
      orderlyRetryPauseMs,
    },
    tagFilter: compileTagFilter(options.tags),
    autoHeartbeat: options.autoHeartbeat ?? true,
  };
}

function resolveRetryLimits(options: SubscribeOptions): Omit<ResolvedRetry, 'levels' | 'customLevels'> {
  const { maxReconsumeTimes: limit } = SUBSCRIPTION_LIMITS;
  const maxReconsumeTimes = options.retry?.maxReconsumeTimes ?? limit.default;
  if (!withinLimit(maxReconsumeTimes, limit)) {
    throw new InvalidArgumentError(
      `maxReconsumeTimes must be an integer from ${limit.min} to ${limit.max}; ` +
        `got ${JSON.stringify(maxReconsumeTimes)}.`,
    );
  }
  const orderlyRetryPauseMs = options.retry?.orderlyRetryPauseMs ?? ORDERLY_RETRY_PAUSE_MS;
  if (!Number.isInteger(orderlyRetryPauseMs) || orderlyRetryPauseMs < 0) {
    throw new InvalidArgumentError(
      `orderlyRetryPauseMs must be a non-negative integer; got ${JSON.stringify(orderlyRetryPauseMs)}.`,
    );
  }
  return { maxReconsumeTimes, orderlyRetryPauseMs };
}
