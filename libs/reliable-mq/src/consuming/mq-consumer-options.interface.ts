import type { ConsumeMode } from '../transport/transport.interface';
import type { MessageContext } from './message-context.interface';

/** Anything with a `parse` that throws on invalid input (for example a zod schema). */
export interface PayloadSchema<T = unknown> {
  parse(input: unknown): T;
}

export interface MqConsumerOptions<TPayload = unknown> {
  topic: string;
  group: string;
  /** `*` (default) or `a || b`. */
  tags?: string;
  /** Default `concurrent`. `orderly`: one message per queue at a time, in order; a failure holds the queue. */
  mode?: ConsumeMode;
  /** Default `clustering`: one instance of the group handles each message. `broadcasting`: every instance does. */
  groupMode?: 'clustering' | 'broadcasting';
  /** Business id the effect is deduplicated on, e.g. `(p) => p.orderId`. Default: the message id. */
  dedupKey?(payload: TPayload, ctx: Omit<MessageContext, 'dedupKey' | 'manager'>): string;
  /** Failed attempts before the DLQ. Default from module options (16). */
  maxReconsumeTimes?: number;
  /** Retry delays, e.g. `1s 10s 1m`. Default: the broker's levels. */
  delayLevels?: string;
  /** Messages in flight at once for this handler. Default 32. */
  prefetch?: number;
  /**
   * Where a group that has never consumed the topic starts: `earliest`, every message the broker still holds for the
   * topic (published before the group's first subscription included), or `latest`, from its subscription on.
   * Default: the module's `consumers.startFrom`, else `earliest` (clustering) or `latest` (broadcasting).
   */
  startFrom?: 'latest' | 'earliest';
  /** A class-validator DTO class; invalid payloads go to the DLQ as non-retryable. */
  dto?: new (...args: never[]) => object;
  /** Or any schema with `parse`; a throw sends the message to the DLQ as non-retryable. */
  schema?: PayloadSchema<TPayload>;
}
