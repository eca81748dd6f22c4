import type { ConfirmPublisher } from './confirm-publisher';
import type { RabbitMqConnection } from './rabbitmq-connection';
import type { RabbitMqLogger } from './rabbitmq-logger.interface';
import { copyOf } from './rabbitmq-message.codec';
import type { RabbitMqNames } from './rabbitmq-names';

/**
 * Moves a topic's parked messages (published while no group's queue was bound) back through the topic's exchange,
 * so that the groups bound now receive them. Each is republished with confirms and only then acked; what is still
 * unroutable parks again. Reads at most the number of messages parked when it starts, so it always ends.
 */
export async function replayUnrouted(
  connection: RabbitMqConnection,
  publisher: ConfirmPublisher,
  names: RabbitMqNames,
  topic: string,
  logger: RabbitMqLogger,
): Promise<number> {
  const queue = names.unrouted(topic);
  const channel = await connection.current().createChannel();
  channel.on('error', () => undefined);
  let moved = 0;
  try {
    let parked: number;
    try {
      parked = (await channel.checkQueue(queue)).messageCount;
    } catch {
      return 0;
    }
    for (let index = 0; index < parked; index++) {
      const message = await channel.get(queue, { noAck: false });
      if (message === false) break;
      const copy = copyOf(message, {});
      await publisher.publish([
        { exchange: names.topicExchange(topic), routingKey: message.fields.routingKey, ...copy },
      ]);
      channel.ack(message);
      moved++;
    }
  } finally {
    await channel.close().catch(() => undefined);
  }
  if (moved > 0)
    logger.log(`Delivered ${moved} message(s) of topic "${topic}" that were published before any group subscribed.`);
  return moved;
}
