import type { EngineStats } from '../engine.types';

/**
 * Where a group's backlog on a topic is heading at the current rates:
 * - `drained`: nothing left;
 * - `draining`: it consumes faster than the topic grows; `etaMs` says when it would be gone;
 * - `growing`: the topic grows at least as fast as it consumes;
 * - `stalled`: it consumes nothing and nothing is published, so the backlog stays as it is.
 */
export type DrainState = 'drained' | 'draining' | 'growing' | 'stalled';

export interface DrainEstimate {
  state: DrainState;
  /** Time to drain at the current rates, in ms; null unless `draining`. */
  etaMs: number | null;
}

/** One group's backlog on one topic, as an operator needs it to decide what to do. */
export interface BacklogEntry {
  group: string;
  topic: string;
  /** Messages the group has not consumed yet. */
  lag: number;
  /** When the oldest of them was stored (epoch ms); null when there is none. */
  oldestUnconsumedAt: number | null;
  /** Now minus `oldestUnconsumedAt`: the lag in time; 0 when nothing lags. */
  lagMs: number;
  consumeRatePerSec: number;
  publishRatePerSec: number;
  /** Members of the group connected now that consume this topic. */
  members: number;
  queueCount: number;
  inFlight: number;
  drain: DrainEstimate;
}

export interface BacklogReport {
  /** Epoch ms the report was made at. */
  at: number;
  entries: BacklogEntry[];
}

/** Below this a rate is noise from the meter's window, not throughput. */
const MIN_RATE = 0.01;

/** The drain estimate for a backlog of `lag` messages consumed at `consume`/s while `publish`/s arrive. */
export function estimateDrain(lag: number, consume: number, publish: number): DrainEstimate {
  if (lag <= 0) return { state: 'drained', etaMs: 0 };
  const net = consume - publish;
  if (consume < MIN_RATE && publish < MIN_RATE) return { state: 'stalled', etaMs: null };
  if (net < MIN_RATE) return { state: 'growing', etaMs: null };
  return { state: 'draining', etaMs: Math.ceil((lag / net) * 1000) };
}

/** Builds the backlog report from the engine's statistics and the number of members per group and topic. */
export function backlogReport(
  stats: Pick<EngineStats, 'topics' | 'groups'>,
  membersOf: (group: string, topic: string) => number,
  now: number,
): BacklogReport {
  const topics = new Map(stats.topics.map((topic) => [topic.topic, topic]));
  const entries = stats.groups.map((group): BacklogEntry => {
    const topic = topics.get(group.topic);
    const publish = topic?.publishRatePerSec ?? 0;
    return {
      group: group.group,
      topic: group.topic,
      lag: group.lag,
      oldestUnconsumedAt: group.oldestUnconsumedAt,
      lagMs: group.oldestUnconsumedAt === null ? 0 : Math.max(0, now - group.oldestUnconsumedAt),
      consumeRatePerSec: group.deliveryRatePerSec,
      publishRatePerSec: publish,
      members: membersOf(group.group, group.topic),
      queueCount: topic?.queues.length ?? 0,
      inFlight: group.inFlight,
      drain: estimateDrain(group.lag, group.deliveryRatePerSec, publish),
    };
  });
  entries.sort((a, b) => b.lag - a.lag || a.group.localeCompare(b.group) || a.topic.localeCompare(b.topic));
  return { at: now, entries };
}
