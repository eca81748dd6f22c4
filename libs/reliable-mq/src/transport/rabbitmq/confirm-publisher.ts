import type { ConfirmChannel, Message, Options } from 'amqplib';
import { TransportError } from '../../errors/transport.error';
import { TransportUnavailableError } from '../../errors/transport-unavailable.error';
import { bounded } from './bounded';
import type { RabbitMqConnection } from './rabbitmq-connection';

export interface AmqpPublish {
  exchange: string;
  routingKey: string;
  content: Buffer;
  options: Options.Publish;
  /** Said after the reason when RabbitMQ returns this message as unroutable: what it means and what to do. */
  whenReturned?: string;
}

/**
 * Publishes on one confirm channel and resolves only when the broker has confirmed every message.
 *
 * - Messages are persistent and `mandatory`: a message the broker cannot route comes back as `basic.return`
 *   before its confirm, and that publish fails (RabbitMQ confirms a returned message too, so the confirm alone
 *   would say "success" for a message that went nowhere).
 * - A nack, a closed channel or connection, or no confirm within `timeoutMs` fails the publish. A failed publish
 *   may still have been stored: callers re-send, and consumers' dedup absorbs the copy.
 * - A missing confirm is unavailability (`TransportUnavailableError`), not an answer about the message: RabbitMQ
 *   answers about a message with a return, a nack or a channel error, and withholds the confirm only while it cannot
 *   store it (a quorum queue without a majority of its replicas, a memory or disk alarm). It confirms once it can,
 *   so the relay must not count such a wait against the row.
 * - A channel closed by the broker (for example a publish to an exchange deleted meanwhile) is replaced on the
 *   next publish.
 */
export class ConfirmPublisher {
  private channel: ConfirmChannel | null = null;
  private opening: Promise<ConfirmChannel> | null = null;
  private generation = -1;
  private nextToken = 0;
  /** Returned messages of the current channel, by their publish token, with the broker's reason. */
  private returned = new Map<string, string>();
  /** Publishes waiting for their confirm, by publish token. */
  private readonly pending = new Map<
    string,
    { resolve: () => void; reject: (error: Error) => void; item: AmqpPublish }
  >();
  private closed = false;

  constructor(
    private readonly connection: RabbitMqConnection,
    private readonly timeoutMs: number,
  ) {}

  async publish(items: readonly AmqpPublish[]): Promise<void> {
    if (items.length === 0) return;
    const channel = await this.openChannel();
    const confirms: Array<Promise<void>> = [];
    for (const item of items) {
      const token = `p${++this.nextToken}`;
      confirms.push(this.publishOne(channel, item, token));
      let writable: boolean;
      try {
        writable = channel.publish(
          item.exchange,
          item.routingKey,
          item.content,
          { ...item.options, correlationId: token },
          this.callbackFor(token),
        );
      } catch (error) {
        // The channel closed under us: this message was not sent; the ones before it fail with the channel.
        this.fail(token, error);
        break;
      }
      // Honour TCP backpressure: a large batch waits for the socket instead of buffering without bound.
      if (!writable) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            channel.off('drain', done);
            channel.off('close', done);
            resolve();
          };
          channel.once('drain', done);
          channel.once('close', done);
        });
      }
    }
    const results = await Promise.allSettled(confirms);
    const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
    if (failure) throw failure.reason;
  }

  async close(): Promise<void> {
    this.closed = true;
    const channel = this.channel;
    this.channel = null;
    if (channel) await bounded(channel.close(), 2000);
  }

  private fail(token: string, error: unknown): void {
    const entry = this.pending.get(token);
    if (!entry) return;
    this.pending.delete(token);
    entry.reject(
      new TransportError(
        `Could not publish message ${String(entry.item.options.messageId)}: ${(error as Error)?.message ?? String(error)}`,
        {
          cause: error,
        },
      ),
    );
  }

  private publishOne(_channel: ConfirmChannel, item: AmqpPublish, token: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this.pending.delete(token)) return;
        reject(
          new TransportUnavailableError(
            `RabbitMQ did not confirm message ${String(item.options.messageId)} within ${this.timeoutMs} ms ` +
              '(a queue without a majority of its replicas, or a memory or disk alarm, holds confirms back).',
          ),
        );
      }, this.timeoutMs);
      this.pending.set(token, {
        item,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
  }

  private callbackFor(token: string): (error: unknown) => void {
    return (error: unknown) => {
      const entry = this.pending.get(token);
      const returnedReason = this.returned.get(token);
      this.returned.delete(token);
      if (!entry) return;
      this.pending.delete(token);
      const target = `exchange "${entry.item.exchange}" with routing key "${entry.item.routingKey}"`;
      if (error) {
        entry.reject(
          new TransportError(
            `RabbitMQ did not confirm message ${String(entry.item.options.messageId)} to ${target}: ${(error as Error)?.message ?? String(error)}.`,
            {
              cause: error,
            },
          ),
        );
      } else if (returnedReason !== undefined) {
        entry.reject(
          new TransportError(
            `RabbitMQ returned message ${String(entry.item.options.messageId)} as unroutable (${returnedReason}): no queue is bound for ${target}.` +
              (entry.item.whenReturned ? ` ${entry.item.whenReturned}` : ''),
          ),
        );
      } else {
        entry.resolve();
      }
    };
  }

  private async openChannel(): Promise<ConfirmChannel> {
    if (this.closed) throw new TransportError('The RabbitMQ transport is closed.');
    const model = this.connection.current();
    if (this.channel && this.generation === this.connection.generation) return this.channel;
    if (this.opening) return this.opening;
    this.opening = (async () => {
      const generation = this.connection.generation;
      const channel = await model.createConfirmChannel();
      channel.on('error', () => undefined);
      channel.on('return', (message: Message) => {
        const token = message.properties.correlationId as string | undefined;
        const fields = message.fields as unknown as { replyCode?: number; replyText?: string };
        if (token) this.returned.set(token, `${fields.replyCode ?? ''} ${fields.replyText ?? 'NO_ROUTE'}`.trim());
      });
      channel.on('close', () => {
        if (this.channel === channel) this.channel = null;
      });
      this.channel = channel;
      this.generation = generation;
      return channel;
    })();
    try {
      return await this.opening;
    } catch (error) {
      throw new TransportError(`Cannot open a RabbitMQ channel: ${(error as Error).message}`, { cause: error });
    } finally {
      this.opening = null;
    }
  }
}
