import type { ConsoleBacklogEntry, ConsoleBacklogSource } from './backlog-source.interface';

/**
 * One group queue set as `RabbitMqTransport.backlog()` reports it: the ready messages by passive declare, and what
 * the transport's own consumers know (absent from a reader that gives the count only).
 */
export interface RabbitMqBacklogRow {
  group: string;
  topic: string;
  /** Messages ready in the group's queues (unacked ones are not counted). */
  messages: number;
  /** Consumers RabbitMQ counts on the group's queues (an orderly queue counts only its single active one). */
  consumers?: number;
  queues?: number;
  /** Deliveries the reporting instance holds unacked. */
  heldHere?: number;
  /** When the oldest message the reporting instance holds entered its queue (epoch ms). */
  oldestUnconsumedAt?: number | null;
  /** The lag in time; null when unknown (`ageUnknownReason`). */
  lagMs?: number | null;
  ageIsLowerBound?: boolean;
  ageUnknownReason?: string | null;
  consumeRatePerSec?: number;
  consumeRateIsLowerBound?: boolean;
}

/** What the RabbitMQ source needs of the transport (`RabbitMqTransport.backlog()`). */
export interface RabbitMqBacklogReader {
  backlog(now?: number): Promise<{ groups: RabbitMqBacklogRow[] }>;
}

export const RABBITMQ_BACKLOG_NOTES: readonly string[] = [
  'RabbitMQ: the lag is the ready messages in each group queue of the groups this process consumes (unacked ones ' +
    'are not counted). The oldest waiting is the age of the oldest message this process holds unacked, which under ' +
    "FIFO is the queue's oldest: exact when this process is every consumer of the group's queues (or the single " +
    'active consumer of each orderly queue), "at least" when other consumers may hold older ones, and not known when ' +
    'messages wait but this process holds none of them. Members are the consumers RabbitMQ counts (an orderly queue ' +
    'counts its active one only); the consume rate is what this process settled over the last 10 s. RabbitMQ does ' +
    'not tell the publish rate over AMQP, so no drain time is estimated.',
  'Concurrent groups scale by adding instances: they compete on one queue. Orderly groups have queueCount ordered ' +
    'queues with a single active consumer each; raising queueCount declares a new set of queues, and per-key order ' +
    'between the old set and the new one is not kept until the old set has drained (docs/rabbitmq.md).',
  'No backlog action is offered on RabbitMQ: it has no queue count to raise for a group in place, no offsets to move ' +
    'a group to a time, and purging a queue drops all of it, not what came before a time.',
];

/** One row as the page shows it: what the transport's consumers could not tell is null, and says how sure it is. */
function entryOf(row: RabbitMqBacklogRow, at: number): ConsoleBacklogEntry {
  const oldest = row.oldestUnconsumedAt ?? null;
  const lagMs = oldest !== null ? Math.max(0, at - oldest) : (row.lagMs ?? null);
  const exactlyEmpty = row.messages === 0 && row.heldHere === 0 && lagMs === 0 && row.ageIsLowerBound === false;
  return {
    group: row.group,
    topic: row.topic,
    lag: row.messages,
    oldestUnconsumedAt: oldest,
    lagMs,
    ageIsLowerBound: row.ageIsLowerBound ?? false,
    ageUnknownReason: lagMs === null ? (row.ageUnknownReason ?? null) : null,
    consumeRatePerSec: row.consumeRatePerSec ?? null,
    consumeRateIsLowerBound: row.consumeRateIsLowerBound ?? false,
    publishRatePerSec: null,
    members: row.consumers ?? null,
    queueCount: row.queues ?? null,
    inFlight: row.heldHere ?? null,
    // Without the publish rate only an empty group's drain is known.
    drain: exactlyEmpty ? { state: 'drained', etaMs: 0 } : null,
  };
}

/**
 * RabbitMQ as the console's backlog source: the report only, with the figures RabbitMQ cannot give left unknown, and
 * notes on what applies there instead of the actions it cannot do safely.
 */
export function rabbitMqBacklogSource(
  transport: RabbitMqBacklogReader,
  now: () => number = Date.now,
): ConsoleBacklogSource {
  return {
    notes: [...RABBITMQ_BACKLOG_NOTES],
    noActionsReason:
      'RabbitMQ has no queue count to raise for a group in place, no offsets to move a group to a time, and ' +
      'purging a queue drops all of it; scale a concurrent group by adding instances, an orderly one with a new ' +
      'queueCount (docs/rabbitmq.md)',
    report: async () => {
      const at = now();
      const backlog = await transport.backlog(at);
      const entries = backlog.groups.map((row) => entryOf(row, at)).sort((a, b) => b.lag - a.lag);
      return { at, entries };
    },
  };
}
