import type { EngineStats } from '../engine.types';

/**
 * An instrument read at collection time. This package knows no metrics library: the standalone broker and
 * `@reliable-mq/nestjs` register these with the OpenTelemetry metrics API, so the names and their meaning are written
 * once, here.
 */
export interface ObservedMetric {
  /** OpenTelemetry name; Prometheus shows it with `_` for `.`, and counters with `_total` appended. */
  readonly name: string;
  readonly kind: 'gauge' | 'counter';
  /** UCUM, as OpenTelemetry asks: `s`, `By`, or a `{thing}` annotation. */
  readonly unit: string;
  readonly description: string;
  /** The attributes each point carries. */
  readonly attributes: readonly string[];
}

/** The two calls of an OpenTelemetry `Meter` that observed metrics need; a `Meter` fits it. */
export interface ObservableInstrumentFactory<Instrument> {
  createObservableCounter(name: string, options: { unit: string; description: string }): Instrument;
  createObservableGauge(name: string, options: { unit: string; description: string }): Instrument;
}

/** One observable instrument per metric, of the kind it declares, keyed by the metric's name. */
export function observableInstruments<Instrument>(
  meter: ObservableInstrumentFactory<Instrument>,
  metrics: Iterable<ObservedMetric>,
): Map<string, Instrument> {
  const instruments = new Map<string, Instrument>();
  for (const metric of metrics) {
    const options = { unit: metric.unit, description: metric.description };
    instruments.set(
      metric.name,
      metric.kind === 'counter'
        ? meter.createObservableCounter(metric.name, options)
        : meter.createObservableGauge(metric.name, options),
    );
  }
  return instruments;
}

/** One value of an ObservedMetric. */
export interface MetricPoint {
  readonly metric: ObservedMetric;
  readonly value: number;
  readonly attributes: Readonly<Record<string, string>>;
}

export const ATTR_GROUP = 'messaging.consumer.group.name';
export const ATTR_TOPIC = 'messaging.destination.name';
export const ATTR_PRODUCER_GROUP = 'messaging.reliablemq.producer_group';
export const ATTR_QUANTILE = 'messaging.reliablemq.quantile';

const metric = (
  name: string,
  kind: ObservedMetric['kind'],
  unit: string,
  description: string,
  attributes: readonly string[] = [],
): ObservedMetric => ({ name, kind, unit, description, attributes });

/** What a broker knows of the consumer groups it serves: every transport reports what it can of these. */
export const BACKLOG_METRICS = {
  consumerLag: metric(
    'reliablemq.consumer.lag',
    'gauge',
    '{message}',
    'Messages of the topic the group has not consumed yet (in flight included).',
    [ATTR_GROUP, ATTR_TOPIC],
  ),
  consumerLagLatency: metric(
    'reliablemq.consumer.lag.latency',
    'gauge',
    's',
    'Now minus the time the oldest message the group has not consumed yet was stored; 0 when it consumed everything.',
    [ATTR_GROUP, ATTR_TOPIC],
  ),
  retriesPending: metric(
    'reliablemq.consumer.retries.pending',
    'gauge',
    '{message}',
    "Messages waiting for their next attempt on the group's retry levels.",
    [ATTR_GROUP, ATTR_TOPIC],
  ),
  deadLetters: metric(
    'reliablemq.dlq.messages',
    'gauge',
    '{message}',
    "Messages in the group's dead-letter queue that no operator resent or discarded.",
    [ATTR_GROUP, ATTR_TOPIC],
  ),
  halfUnresolved: metric(
    'reliablemq.half_messages.unresolved',
    'gauge',
    '{message}',
    'Half (transactional) messages waiting for commit, rollback or a checkback answer.',
    [ATTR_PRODUCER_GROUP],
  ),
  halfDiscarded: metric(
    'reliablemq.half_messages.discarded',
    'gauge',
    '{message}',
    'Half messages that ran out of checkbacks and wait for an operator.',
    [ATTR_PRODUCER_GROUP],
  ),
} as const;

/** Facts of the engine itself: the broker process reports them, and so does an application with an embedded engine. */
export const ENGINE_METRICS = {
  storedBytes: metric('reliablemq.engine.stored.bytes', 'gauge', 'By', "Size of the engine's SQLite database."),
  topicMessages: metric(
    'reliablemq.engine.topic.messages',
    'gauge',
    '{message}',
    'Messages the engine holds for the topic (until retention deletes them).',
    [ATTR_TOPIC],
  ),
  scheduled: metric(
    'reliablemq.engine.scheduled.messages',
    'gauge',
    '{message}',
    'Delayed messages and retries waiting for their time.',
  ),
  commits: metric(
    'reliablemq.engine.commits',
    'counter',
    '{commit}',
    'Group commits since the engine opened; one commit confirms every publish, ack and move that shares it.',
  ),
  commitTime: metric(
    'reliablemq.engine.commit.time',
    'counter',
    's',
    'Time spent in group commits (writing and, with flush "sync", the fsync); divided by the commits, the mean.',
  ),
  commitRecentDuration: metric(
    'reliablemq.engine.commit.recent_duration',
    'gauge',
    's',
    `Duration of the engine's last 512 commits at the quantile (0.5, 0.99 or 1 for the longest).`,
    [ATTR_QUANTILE],
  ),
} as const;

export interface BacklogPointOptions {
  /** Only these consumer groups; all when absent. */
  groups?: ReadonlySet<string>;
  /** Epoch ms the lag in time is measured at. */
  now: number;
}

/** Lag, retries and dead letters of each group and topic, and the half messages, from engine stats. */
export function backlogPoints(stats: EngineStats, options: BacklogPointOptions): MetricPoint[] {
  const points: MetricPoint[] = [];
  for (const group of stats.groups) {
    if (options.groups && !options.groups.has(group.group)) continue;
    const attributes = { [ATTR_GROUP]: group.group, [ATTR_TOPIC]: group.topic };
    const latency = group.oldestUnconsumedAt === null ? 0 : Math.max(0, options.now - group.oldestUnconsumedAt) / 1000;
    points.push(
      { metric: BACKLOG_METRICS.consumerLag, value: group.lag, attributes },
      { metric: BACKLOG_METRICS.consumerLagLatency, value: latency, attributes },
      { metric: BACKLOG_METRICS.retriesPending, value: group.retryPending, attributes },
      { metric: BACKLOG_METRICS.deadLetters, value: group.dlqCount, attributes },
    );
  }
  return points;
}

/** Stored bytes, messages per topic, scheduled messages, commits and their durations, from engine stats. */
export function enginePoints(stats: EngineStats): MetricPoint[] {
  const points: MetricPoint[] = [
    { metric: ENGINE_METRICS.storedBytes, value: stats.databaseBytes, attributes: {} },
    { metric: ENGINE_METRICS.scheduled, value: stats.scheduledPending, attributes: {} },
    { metric: ENGINE_METRICS.commits, value: stats.commitLatency.commits, attributes: {} },
    { metric: ENGINE_METRICS.commitTime, value: stats.commitLatency.totalMs / 1000, attributes: {} },
  ];
  const recent = stats.commitLatency.recent;
  for (const [quantile, ms] of [
    ['0.5', recent.p50Ms],
    ['0.99', recent.p99Ms],
    ['1', recent.maxMs],
  ] as const) {
    points.push({
      metric: ENGINE_METRICS.commitRecentDuration,
      value: ms / 1000,
      attributes: { [ATTR_QUANTILE]: quantile },
    });
  }
  for (const topic of stats.topics) {
    const messages = topic.queues.reduce((sum, queue) => sum + Math.max(0, queue.maxOffset - queue.minOffset), 0);
    points.push({ metric: ENGINE_METRICS.topicMessages, value: messages, attributes: { [ATTR_TOPIC]: topic.topic } });
  }
  return points;
}

/**
 * Half messages unresolved and discarded: of one producer group when it is given, else of every group (the engine's
 * stats count them all together).
 */
export function halfMessagePoints(
  counts: { unresolved: number; discarded: number },
  producerGroup?: string,
): MetricPoint[] {
  const attributes: Record<string, string> =
    producerGroup === undefined ? {} : { [ATTR_PRODUCER_GROUP]: producerGroup };
  return [
    { metric: BACKLOG_METRICS.halfUnresolved, value: counts.unresolved, attributes },
    { metric: BACKLOG_METRICS.halfDiscarded, value: counts.discarded, attributes },
  ];
}
