import type { ConsoleBacklogSource } from './backlog-source.interface';

/**
 * What the RabbitMQ source needs of the transport (`RabbitMqTransport.backlog()`): the ready messages of each group
 * queue it consumes, counted by passive declare.
 */
export interface RabbitMqBacklogReader {
  backlog(): Promise<{ groups: Array<{ group: string; topic: string; messages: number }> }>;
}

export const RABBITMQ_BACKLOG_NOTES: readonly string[] = [
  'RabbitMQ: the lag is the ready messages in each group queue of the groups this process consumes (unacked ones ' +
    'are not counted). RabbitMQ cannot tell over AMQP how old the oldest one is without taking it, so the lag in ' +
    'time, the rates and the drain estimate are not shown.',
  'Concurrent groups scale by adding instances: they compete on one queue. Orderly groups have queueCount ordered ' +
    'queues with a single active consumer each; raising queueCount declares a new set of queues, and per-key order ' +
    'between the old set and the new one is not kept until the old set has drained (docs/rabbitmq.md).',
  'No backlog action is offered on RabbitMQ: it has no queue count to raise for a group in place, no offsets to move ' +
    'a group to a time, and purging a queue drops all of it, not what came before a time.',
];

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
      const backlog = await transport.backlog();
      const entries = backlog.groups
        .map(({ group, topic, messages }) => ({
          group,
          topic,
          lag: messages,
          oldestUnconsumedAt: null,
          lagMs: null,
          consumeRatePerSec: null,
          publishRatePerSec: null,
          members: null,
          queueCount: null,
          inFlight: null,
          drain: null,
        }))
        .sort((a, b) => b.lag - a.lag);
      return { at: now(), entries };
    },
  };
}
