import { ATTR_GROUP, ATTR_TOPIC, BACKLOG_METRICS, type MetricPoint } from '@reliable-mq/engine';
/** What the count needs of an amqplib connection; written out so that these typings need no amqplib installed. */
interface ProbeConnection {
  createChannel(): Promise<ProbeChannel>;
}

interface ProbeChannel {
  on(event: 'error', listener: () => void): unknown;
  checkQueue(queue: string): Promise<{ messageCount: number }>;
  close(): Promise<void>;
}

/** Messages ready in a group's queues for one topic: what the group has not taken yet. */
export interface RabbitMqGroupBacklog {
  group: string;
  topic: string;
  messages: number;
}

/** What RabbitMQ can tell of the consumer groups of this instance, one passive declare per queue. */
export interface RabbitMqBacklog {
  groups: RabbitMqGroupBacklog[];
  /** Letters in each group's DLQ, resent and discarded ones excluded (they move to the audit queue). */
  deadLetters: Array<{ group: string; messages: number }>;
}

export interface BacklogQueues {
  work: Array<{ group: string; topic: string; queues: readonly string[] }>;
  deadLetters: Array<{ group: string; queue: string }>;
}

/**
 * Counts the ready messages of the given queues. RabbitMQ answers a passive declare with the queue's ready count
 * (delivered but unacked messages are not in it), and cannot say when the oldest of them was published without
 * taking it, so the lag in time is not known on RabbitMQ. A queue that does not exist (yet) counts nothing; a passive
 * declare of one closes the channel, so each queue gets its own try on a fresh channel after such a miss.
 */
export async function readRabbitMqBacklog(model: ProbeConnection, queues: BacklogQueues): Promise<RabbitMqBacklog> {
  let channel = await model.createChannel();
  channel.on('error', () => undefined);
  const count = async (queue: string): Promise<number> => {
    try {
      return (await channel.checkQueue(queue)).messageCount;
    } catch {
      channel = await model.createChannel();
      channel.on('error', () => undefined);
      return 0;
    }
  };
  try {
    const groups: RabbitMqGroupBacklog[] = [];
    for (const { group, topic, queues: names } of queues.work) {
      let messages = 0;
      for (const name of names) messages += await count(name);
      const known = groups.find((entry) => entry.group === group && entry.topic === topic);
      if (known) known.messages += messages;
      else groups.push({ group, topic, messages });
    }
    const deadLetters: RabbitMqBacklog['deadLetters'] = [];
    for (const { group, queue } of queues.deadLetters) deadLetters.push({ group, messages: await count(queue) });
    return { groups, deadLetters };
  } finally {
    await channel.close().catch(() => undefined);
  }
}

/** The backlog as the engine's metric points: ready messages per (group, topic) as lag, and each group's DLQ size. */
export function rabbitMqBacklogPoints(backlog: RabbitMqBacklog): MetricPoint[] {
  const points: MetricPoint[] = [];
  for (const { group, topic, messages } of backlog.groups) {
    points.push({
      metric: BACKLOG_METRICS.consumerLag,
      value: messages,
      attributes: { [ATTR_GROUP]: group, [ATTR_TOPIC]: topic },
    });
  }
  for (const { group, messages } of backlog.deadLetters) {
    points.push({ metric: BACKLOG_METRICS.deadLetters, value: messages, attributes: { [ATTR_GROUP]: group } });
  }
  return points;
}
