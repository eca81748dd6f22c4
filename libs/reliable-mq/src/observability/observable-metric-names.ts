import { ATTR_PRODUCER_GROUP, BACKLOG_METRICS, ENGINE_METRICS, type ObservedMetric } from '@reliable-mq/engine';

const gauge = (name: string, unit: string, description: string): ObservedMetric => ({
  name,
  kind: 'gauge',
  unit,
  description,
  attributes: [ATTR_PRODUCER_GROUP],
});

/**
 * The outbox of this application's database, read when metrics are collected, under the application's producer
 * group (two services in one process, or on one Prometheus, stay apart).
 */
export const OUTBOX_METRICS = {
  pending: gauge(
    'reliablemq.outbox.pending',
    '{row}',
    'Outbox rows not sent yet (waiting, backing off after a failure, or held while the broker is unreachable); the count stops at 100,000.',
  ),
  oldestPendingAge: gauge(
    'reliablemq.outbox.oldest_pending.age',
    's',
    'Age of the oldest outbox row not sent yet; 0 when none waits.',
  ),
  dead: gauge(
    'reliablemq.outbox.dead',
    '{row}',
    'Outbox rows that failed relay.maxAttempts times and wait for an operator (their key is held); the count stops at 100,000.',
  ),
} as const;

/** Every instrument read at collection time, by name, with the engine's and the broker's own. */
export const OBSERVABLE_METRICS: readonly ObservedMetric[] = [
  ...Object.values(OUTBOX_METRICS),
  ...Object.values(BACKLOG_METRICS),
  ...Object.values(ENGINE_METRICS),
];
