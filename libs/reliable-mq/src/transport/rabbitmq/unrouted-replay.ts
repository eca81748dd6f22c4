import type { Channel, Message } from 'amqplib';
import type { ConfirmPublisher } from './confirm-publisher';
import type { RabbitMqConnection } from './rabbitmq-connection';
import type { RabbitMqLogger } from './rabbitmq-logger.interface';
import { copyOf } from './rabbitmq-message.codec';
import type { RabbitMqNames } from './rabbitmq-names';
import { bounded } from './bounded';

/** Parked messages in flight to the replay at once, republished as one confirmed batch. */
const REPLAY_PREFETCH = 256;
/** A replay that receives nothing for this long stops, even short of the count it started with. */
const REPLAY_IDLE_MS = 2000;

/**
 * Moves a topic's parked messages (published while no group's queue was bound) back through the topic's exchange,
 * so that the groups bound now receive them, in the order they were parked. Each batch is republished with
 * confirms and only then acked; what is still unroutable parks again. Moves at most the number of messages parked
 * when it starts, so it always ends.
 *
 * One replay of a topic runs at a time: two readers of the parked queue would each take every other message and
 * republish them side by side, breaking per-key order. Within this transport replays of a topic wait for each
 * other; across instances the replay holds an exclusive queue (quorum queues ignore exclusive consumers), and one
 * that finds it held returns 0 at once: the holder hands the messages to every group bound by then.
 */
export class UnroutedReplay {
  private readonly running = new Map<string, Promise<number>>();

  constructor(
    private readonly connection: RabbitMqConnection,
    private readonly publisher: ConfirmPublisher,
    private readonly names: RabbitMqNames,
    private readonly logger: RabbitMqLogger,
  ) {}

  /** Resolves with the number of messages handed over by this call. */
  replay(topic: string): Promise<number> {
    const previous = this.running.get(topic) ?? Promise.resolve(0);
    const next = previous.catch(() => 0).then(() => this.replayHoldingLock(topic));
    this.running.set(topic, next);
    const forget = (): void => {
      if (this.running.get(topic) === next) this.running.delete(topic);
    };
    next.then(forget, forget);
    return next;
  }

  private async replayHoldingLock(topic: string): Promise<number> {
    const queue = this.names.unrouted(topic);
    const lock = this.names.unroutedReplayLock(topic);
    let locked = false;
    const channel = await this.connection.current().createChannel();
    channel.on('error', () => undefined);
    try {
      let parked: number;
      try {
        parked = (await channel.checkQueue(queue)).messageCount;
      } catch {
        return 0; // No parked queue: the topic was declared with unroutable "reject".
      }
      if (parked === 0) return 0;
      try {
        await channel.assertQueue(lock, {
          exclusive: true,
          durable: false,
          autoDelete: true,
          arguments: { 'x-queue-type': 'classic' },
        });
      } catch (error) {
        if (/RESOURCE[-_]LOCKED|\b405\b/.test(String((error as Error).message))) return 0;
        throw error;
      }
      locked = true;
      await channel.prefetch(REPLAY_PREFETCH, false);
      const moved = await moveParked(channel, queue, parked, (messages) =>
        this.publisher.publish(
          messages.map((message) => ({
            exchange: this.names.topicExchange(topic),
            routingKey: message.fields.routingKey,
            ...copyOf(message, {}),
          })),
        ),
      );
      if (moved > 0) {
        this.logger.log(
          `Delivered ${moved} message(s) of topic "${topic}" that were published before any group subscribed.`,
        );
      }
      return moved;
    } finally {
      // On a broken channel the lock goes with the connection instead.
      if (locked) await channel.deleteQueue(lock).catch(() => undefined);
      // Messages received beyond the count are not acked: closing hands them back to the parked queue.
      await bounded(channel.close(), 2000);
    }
  }
}

/** Resolves with the number of messages moved. */
function moveParked(
  channel: Channel,
  queue: string,
  limit: number,
  republish: (messages: Message[]) => Promise<void>,
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let moved = 0;
    let taken = 0;
    let pending: Message[] = [];
    let busy = false;
    let finished = false;
    let idle: NodeJS.Timeout | undefined;
    const finish = (error?: unknown): void => {
      if (finished) return;
      finished = true;
      clearTimeout(idle);
      if (error === undefined) resolve(moved);
      else reject(error instanceof Error ? error : new Error(String(error)));
    };
    const armIdle = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        if (!busy) finish();
      }, REPLAY_IDLE_MS);
    };
    const flush = async (): Promise<void> => {
      if (busy || finished) return;
      busy = true;
      try {
        while (pending.length > 0 && !finished) {
          const batch = pending;
          pending = [];
          await republish(batch);
          // Delivery tags grow on the channel: acking the last one up to itself settles exactly this batch.
          channel.ack(batch[batch.length - 1]!, true);
          moved += batch.length;
        }
      } catch (error) {
        finish(error);
        return;
      } finally {
        busy = false;
      }
      if (moved >= limit) finish();
      else armIdle();
    };
    channel
      .consume(
        queue,
        (message) => {
          if (message === null) return finish();
          if (finished || taken >= limit) return;
          taken++;
          pending.push(message);
          armIdle();
          // Gathers what arrived in this turn into one batch.
          setImmediate(() => void flush());
        },
        { noAck: false },
      )
      .then(
        () => armIdle(),
        (error: unknown) => finish(error),
      );
  });
}

/**
 * What a publish returned as unroutable means on a topic without a parked queue (`unroutable: "reject"`), and what
 * to do about it. The relay keeps the row and sends it again, so nothing is lost while a group is missing.
 */
export function unparkedTopicHint(topic: string): string {
  return (
    `No consumer group has a queue on topic "${topic}" yet and the topic parks nothing (unroutable "reject"), so ` +
    'RabbitMQ stored nothing; the outbox relay keeps the row and sends it again. Start a consumer group of the ' +
    'topic, or use unroutable "park" so that RabbitMQ keeps such messages for the first group.'
  );
}
