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
  private readonly pending = new Map<string, { batch: ConfirmBatch; index: number; item: AmqpPublish }>();
  private closed = false;

  constructor(
    private readonly connection: RabbitMqConnection,
    private readonly timeoutMs: number,
  ) {}

  /**
   * Resolves once RabbitMQ confirmed every message; rejects with the failure of the first message (in the batch's
   * order) that failed. Sets each item's `correlationId` (its publish token, which a return names).
   */
  async publish(items: readonly AmqpPublish[]): Promise<void> {
    if (items.length === 0) return;
    const channel = this.openedChannel() ?? (await this.openChannel());
    const batch = new ConfirmBatch();
    const timer = setTimeout(() => this.timeOut(batch), this.timeoutMs);
    try {
      for (let index = 0; index < items.length; index++) {
        const item = items[index]!;
        if (batch.timedOut) {
          // The batch waited for the socket longer than the timeout: the rest is not sent.
          batch.sent++;
          batch.done(index, this.unconfirmed(item));
          break;
        }
        const token = `p${++this.nextToken}`;
        this.pending.set(token, { batch, index, item });
        batch.sent++;
        item.options.correlationId = token;
        let writable: boolean;
        try {
          writable = channel.publish(
            item.exchange,
            item.routingKey,
            item.content,
            item.options,
            this.callbackFor(token),
          );
        } catch (error) {
          // The channel closed under us: this message was not sent; the ones before it fail with the channel.
          this.fail(token, error);
          break;
        }
        // Honour TCP backpressure: a large batch waits for the socket instead of buffering without bound.
        if (!writable) await drained(channel, batch);
      }
      await batch.settled();
    } finally {
      clearTimeout(timer);
    }
    const failure = batch.firstFailure();
    if (failure) throw failure;
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
    entry.batch.done(
      entry.index,
      new TransportError(
        `Could not publish message ${String(entry.item.options.messageId)}: ${(error as Error)?.message ?? String(error)}`,
        {
          cause: error,
        },
      ),
    );
  }

  /** No confirm within the timeout: every message of the batch still waiting fails, and the rest is not sent. */
  private timeOut(batch: ConfirmBatch): void {
    batch.timedOut = true;
    for (const [token, entry] of this.pending) {
      if (entry.batch !== batch) continue;
      this.pending.delete(token);
      batch.done(entry.index, this.unconfirmed(entry.item));
    }
    batch.wake?.();
  }

  private unconfirmed(item: AmqpPublish): TransportUnavailableError {
    return new TransportUnavailableError(
      `RabbitMQ did not confirm message ${String(item.options.messageId)} within ${this.timeoutMs} ms ` +
        '(a queue without a majority of its replicas, or a memory or disk alarm, holds confirms back).',
    );
  }

  private callbackFor(token: string): (error: unknown) => void {
    return (error: unknown) => {
      const entry = this.pending.get(token);
      const returnedReason = this.returned.get(token);
      if (returnedReason !== undefined) this.returned.delete(token);
      if (!entry) return;
      this.pending.delete(token);
      const { batch, index, item } = entry;
      if (error) {
        const target = `exchange "${item.exchange}" with routing key "${item.routingKey}"`;
        batch.done(
          index,
          new TransportError(
            `RabbitMQ did not confirm message ${String(item.options.messageId)} to ${target}: ${(error as Error)?.message ?? String(error)}.`,
            {
              cause: error,
            },
          ),
        );
      } else if (returnedReason !== undefined) {
        const target = `exchange "${item.exchange}" with routing key "${item.routingKey}"`;
        batch.done(
          index,
          new TransportError(
            `RabbitMQ returned message ${String(item.options.messageId)} as unroutable (${returnedReason}): no queue is bound for ${target}.` +
              (item.whenReturned ? ` ${item.whenReturned}` : ''),
          ),
        );
      } else {
        batch.done(index, null);
      }
    };
  }

  /** The channel of the current connection when it is open: no await on the way of every publish. */
  private openedChannel(): ConfirmChannel | null {
    if (this.closed) return null;
    this.connection.current();
    return this.channel && this.generation === this.connection.generation ? this.channel : null;
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

/**
 * Resolves when the channel can take more, when it closed (the publishes waiting on it then fail), or when the batch
 * timed out.
 */
function drained(channel: ConfirmChannel, batch: ConfirmBatch): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      channel.off('drain', done);
      channel.off('close', done);
      batch.wake = null;
      resolve();
    };
    channel.once('drain', done);
    channel.once('close', done);
    batch.wake = done;
  });
}

/** The confirms of one `publish` call: one promise for the batch, each message's failure kept by its position. */
class ConfirmBatch {
  /** Messages handed to the channel. */
  sent = 0;
  timedOut = false;
  /** Wakes the batch's wait for the socket when it times out. */
  wake: (() => void) | null = null;
  private answered = 0;
  private failures: Array<Error | undefined> | null = null;
  private waiter: (() => void) | null = null;

  done(index: number, failure: Error | null): void {
    this.answered++;
    if (failure) (this.failures ??= [])[index] = failure;
    if (this.answered === this.sent) this.waiter?.();
  }

  /** Resolves once every message handed to the channel was answered (a confirm, a nack, a return or the timeout). */
  settled(): Promise<void> {
    if (this.answered === this.sent) return Promise.resolve();
    return new Promise<void>((resolve) => (this.waiter = resolve));
  }

  firstFailure(): Error | undefined {
    return this.failures?.find((failure) => failure !== undefined);
  }
}
