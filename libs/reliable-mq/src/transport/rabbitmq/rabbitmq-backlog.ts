import { ATTR_GROUP, ATTR_TOPIC, BACKLOG_METRICS, type MetricPoint } from '@reliable-mq/engine';
import type { QueueWatch } from './rabbitmq-consumer-watch';

/** What the count needs of an amqplib connection; written out so that these typings need no amqplib installed. */
interface ProbeConnection {
  createChannel(): Promise<ProbeChannel>;
}

interface ProbeChannel {
  on(event: 'error', listener: () => void): unknown;
  checkQueue(queue: string): Promise<{ messageCount: number; consumerCount: number }>;
  close(): Promise<void>;
}

/**
 * One group's backlog on one topic as this instance sees it on RabbitMQ: the ready count and consumers of its queues
 * (passive declare), and the age of the oldest message from the deliveries this instance holds unacked. Under FIFO a
 * queue's oldest unconsumed message is among the deliveries its consumers hold (the ready ones entered after them),
 * so the age is exact when this instance sees every consumer's deliveries, and a lower bound otherwise.
 */
export interface RabbitMqGroupBacklog {
  group: string;
  topic: string;
  /** Messages ready in the group's queues: not delivered yet (unacked ones are not counted). */
  messages: number;
  /**
   * Consumers RabbitMQ counts on the group's queues. A single-active-consumer (orderly) queue counts only its active
   * one, so for an orderly group this is the number of its queues being consumed, not of the instances waiting.
   */
  consumers: number;
  /** The group's queues for the topic: 1, or an orderly group's `queueCount`. */
  queues: number;
  /** Deliveries of these queues this instance holds unacked. */
  heldHere: number;
  /**
   * When the oldest message this instance holds unacked entered its queue (epoch ms): its publish, or its return
   * from a retry or delay queue, or its resend. Null when none is held.
   */
  oldestUnconsumedAt: number | null;
  /** Now minus `oldestUnconsumedAt`; 0 when nothing waits; null when the age is unknown (`ageUnknownReason`). */
  lagMs: number | null;
  /**
   * Other consumers may hold older messages: the true age is `lagMs` or more. False when this instance consumes
   * every queue of the group alone, or is the single active consumer of each.
   */
  ageIsLowerBound: boolean;
  /** Why the age is not known: messages are ready, and this instance holds none of a queue's. Null otherwise. */
  ageUnknownReason: string | null;
  /** Messages of these queues this instance settled per second, over the last 10 s. */
  consumeRatePerSec: number;
  /** True when this instance is not known to be every consumer of the queues: the group consumes `consumeRatePerSec` or more. */
  consumeRateIsLowerBound: boolean;
}

/** What RabbitMQ can tell of the consumer groups of this instance, one passive declare per queue. */
export interface RabbitMqBacklog {
  groups: RabbitMqGroupBacklog[];
  /** Letters in each group's DLQ, resent and discarded ones excluded (they move to the audit queue). */
  deadLetters: Array<{ group: string; messages: number }>;
}

/** One subscription's queues, with what its consumers know now. */
export interface BacklogWork {
  group: string;
  topic: string;
  queues: readonly string[];
  /** The queues have a single active consumer (orderly clustering groups). */
  singleActive: boolean;
  /** The watches of the queues it consumes now (none while its channel is down). */
  watches: readonly QueueWatch[];
  consumeRatePerSec: number;
}

export interface BacklogQueues {
  work: BacklogWork[];
  deadLetters: Array<{ group: string; queue: string }>;
}

interface QueueFacts {
  queue: string;
  ready: number;
  consumers: number;
  singleActive: boolean;
  watches: QueueWatch[];
}

/** What one queue says of the group's oldest message. */
interface QueueAge {
  oldest: number | null;
  /** Every delivery of the queue is seen here (or there is none anywhere). */
  complete: boolean;
  unknown: string | null;
}

/**
 * Counts the ready messages and consumers of the given queues (a passive declare each, which RabbitMQ answers with
 * both) and puts them together with what this instance's consumers hold. A queue that does not exist (yet) counts
 * nothing; a passive declare of one closes the channel, so each queue gets its own try on a fresh channel after such
 * a miss. Nothing is taken from a queue: a `basic.get` and a requeue would count towards the quorum queue's delivery
 * limit and disturb an orderly queue's single active consumer.
 */
export async function readRabbitMqBacklog(
  model: ProbeConnection,
  queues: BacklogQueues,
  now = Date.now(),
): Promise<RabbitMqBacklog> {
  let channel = await model.createChannel();
  channel.on('error', () => undefined);
  const check = async (queue: string): Promise<{ messageCount: number; consumerCount: number }> => {
    try {
      return await channel.checkQueue(queue);
    } catch {
      channel = await model.createChannel();
      channel.on('error', () => undefined);
      return { messageCount: 0, consumerCount: 0 };
    }
  };
  try {
    const byGroup = new Map<string, { work: BacklogWork[]; facts: Map<string, QueueFacts> }>();
    for (const work of queues.work) {
      const id = JSON.stringify([work.group, work.topic]);
      const entry = byGroup.get(id) ?? { work: [], facts: new Map<string, QueueFacts>() };
      byGroup.set(id, entry);
      entry.work.push(work);
      for (const queue of work.queues) {
        const facts = entry.facts.get(queue);
        const watches = work.watches.filter((watch) => watch.queue === queue);
        if (facts) {
          facts.watches.push(...watches);
          continue;
        }
        const { messageCount, consumerCount } = await check(queue);
        entry.facts.set(queue, {
          queue,
          ready: messageCount,
          consumers: consumerCount,
          singleActive: work.singleActive,
          watches,
        });
      }
    }
    const groups = [...byGroup.values()].map(({ work, facts }) => groupBacklog(work, [...facts.values()], now));
    const deadLetters: RabbitMqBacklog['deadLetters'] = [];
    for (const { group, queue } of queues.deadLetters) {
      deadLetters.push({ group, messages: (await check(queue)).messageCount });
    }
    return { groups, deadLetters };
  } finally {
    await channel.close().catch(() => undefined);
  }
}

function groupBacklog(work: readonly BacklogWork[], queues: readonly QueueFacts[], now: number): RabbitMqGroupBacklog {
  const ages = queues.map(queueAge);
  let oldest: number | null = null;
  for (const age of ages) if (age.oldest !== null && (oldest === null || age.oldest < oldest)) oldest = age.oldest;
  const unknown = ages.find((age) => age.unknown !== null)?.unknown ?? null;
  const complete = ages.every((age) => age.complete);
  return {
    group: work[0]!.group,
    topic: work[0]!.topic,
    messages: queues.reduce((sum, queue) => sum + queue.ready, 0),
    consumers: queues.reduce((sum, queue) => sum + queue.consumers, 0),
    queues: queues.length,
    heldHere: queues.reduce((sum, queue) => sum + queue.watches.reduce((n, watch) => n + watch.held.size, 0), 0),
    oldestUnconsumedAt: oldest,
    lagMs: oldest !== null ? Math.max(0, now - oldest) : unknown === null ? 0 : null,
    // A queue whose age is unknown holds messages at least as old as nothing: the others' oldest still bounds it.
    ageIsLowerBound: oldest !== null || unknown === null ? !complete : false,
    ageUnknownReason: oldest === null ? unknown : null,
    consumeRatePerSec: work.reduce((sum, one) => sum + one.consumeRatePerSec, 0),
    consumeRateIsLowerBound: !queues.every(seesEveryConsumer),
  };
}

/**
 * Whether this instance's consumers are all the consumers that get messages of the queue: on a single-active-consumer
 * queue, its consumer got a delivery (so it is the active one); on another, RabbitMQ counts no consumer but its own.
 */
function seesEveryConsumer(facts: QueueFacts): boolean {
  if (facts.singleActive) return facts.watches.some((watch) => watch.delivered);
  return facts.consumers <= facts.watches.length;
}

function queueAge(facts: QueueFacts): QueueAge {
  let oldest: number | null = null;
  for (const watch of facts.watches) {
    const at = watch.oldestHeld();
    if (at !== null && (oldest === null || at < oldest)) oldest = at;
  }
  const all = seesEveryConsumer(facts);
  if (oldest !== null) return { oldest, complete: all, unknown: null };
  // Nothing held here and nothing ready: unconsumed messages can only be held by other consumers.
  if (facts.ready === 0) return { oldest: null, complete: all || facts.consumers === 0, unknown: null };
  return { oldest: null, complete: false, unknown: unknownReason(facts) };
}

function unknownReason(facts: QueueFacts): string {
  const { queue, ready } = facts;
  if (facts.watches.length === 0) {
    return `${ready} message(s) wait in ${queue} and this instance does not consume it now: only a consumer holding its oldest deliveries can tell their age`;
  }
  if (facts.singleActive && facts.consumers > 0) {
    return `${ready} message(s) wait in ${queue}, whose single active consumer is another instance: only that one sees the head of the queue`;
  }
  return `${ready} message(s) wait in ${queue} and none is delivered to this instance yet: other consumers hold its oldest deliveries, or the next delivery is on its way`;
}

/**
 * The backlog as the engine's metric points: ready messages per (group, topic) as lag; the age of the oldest message
 * this instance holds as the lag in time (none when it is unknown; a lower bound when other consumers may hold older
 * ones, so several instances' values are aggregated with `max`); and each group's DLQ size.
 */
export function rabbitMqBacklogPoints(backlog: RabbitMqBacklog): MetricPoint[] {
  const points: MetricPoint[] = [];
  for (const { group, topic, messages, lagMs } of backlog.groups) {
    const attributes = { [ATTR_GROUP]: group, [ATTR_TOPIC]: topic };
    points.push({ metric: BACKLOG_METRICS.consumerLag, value: messages, attributes });
    if (lagMs !== null) points.push({ metric: BACKLOG_METRICS.consumerLagLatency, value: lagMs / 1000, attributes });
  }
  for (const { group, messages } of backlog.deadLetters) {
    points.push({ metric: BACKLOG_METRICS.deadLetters, value: messages, attributes: { [ATTR_GROUP]: group } });
  }
  return points;
}
