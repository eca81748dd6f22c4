import {
  HEADER_LAST_ERROR,
  HEADER_ORIGIN_TOPIC,
  HEADER_ORIGINAL_ID,
  HEADER_RECONSUME_TIMES,
  HEADER_RESENT_FROM,
} from '@reliable-mq/engine';
import type { Message, MessageProperties, Options } from 'amqplib';
import type { InboundMessage, TransportMessage } from '../transport.interface';

/** Headers the transport writes for itself; consumers see the message's own headers without them. */
export const H = {
  topic: 'x-rmq-topic',
  key: 'x-rmq-key',
  tags: 'x-rmq-tags',
  bornAt: 'x-rmq-born-at',
  /** Set on a copy put straight into a work queue later than its first publish (a resent dead letter), in ms. */
  queuedAt: 'x-rmq-queued-at',
  deliverAt: 'x-rmq-deliver-at',
  /** Set on retry copies: the retry queue the headers exchange routes to (no `x-` prefix: those are not matched). */
  retryQueue: 'rmq-retry-queue',
  dlqId: 'x-rmq-dlq-id',
  dlqGroup: 'x-rmq-dlq-group',
  deadAt: 'x-rmq-dead-at',
  /** The work queue a dead letter came from; a resend goes back there. */
  returnQueue: 'x-rmq-return-queue',
  status: 'x-rmq-dlq-status',
  statusReason: 'x-rmq-dlq-status-reason',
  statusAt: 'x-rmq-dlq-status-at',
} as const;

const PRIVATE = new Set<string>([
  H.topic,
  H.key,
  H.tags,
  H.bornAt,
  H.queuedAt,
  H.deliverAt,
  H.retryQueue,
  H.dlqId,
  H.dlqGroup,
  H.deadAt,
  H.returnQueue,
  H.status,
  H.statusReason,
  H.statusAt,
]);

/** Headers RabbitMQ itself adds (dead-lettering history, quorum delivery count, a stream entry's offset). */
const BROKER = /^x-(death|first-death-|last-death-|delivery-count|stream-offset)/;

export { HEADER_LAST_ERROR, HEADER_ORIGIN_TOPIC, HEADER_ORIGINAL_ID, HEADER_RECONSUME_TIMES, HEADER_RESENT_FROM };

export interface OutgoingAmqp {
  content: Buffer;
  options: Options.Publish;
}

/**
 * A message as published to a topic exchange: persistent, mandatory, carrying its id, key, tags and birth time.
 * Headers and options are built by assignment, without spreads: amqplib makes the headers object the prototype of
 * its own and walks it key by key, and objects built from spreads made that walk about twice as slow.
 */
export function encodeMessage(message: TransportMessage, now: number): OutgoingAmqp {
  const headers: Record<string, string> = {};
  const own = message.headers;
  if (own) for (const name of Object.keys(own)) headers[name] = own[name]!;
  headers[H.topic] = message.topic;
  headers[H.bornAt] = String(now);
  if (message.key !== undefined && message.key !== null) headers[H.key] = message.key;
  if (message.tags && message.tags.length > 0) headers[H.tags] = JSON.stringify(message.tags);
  if (message.deliverAt !== undefined && message.deliverAt > now) headers[H.deliverAt] = String(message.deliverAt);
  return {
    content: message.body,
    options: {
      messageId: message.id,
      timestamp: Math.floor(now / 1000),
      persistent: true,
      mandatory: true,
      headers,
      // Set by the publisher (its publish token); declared here so that every message's options have one shape.
      correlationId: undefined,
    },
  };
}

/** Header values as strings: amqplib hands back numbers, booleans, buffers or objects depending on the AMQP type. */
export function headerText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export function headerNumber(headers: MessageProperties['headers'], name: string): number | undefined {
  const text = headerText(headers?.[name]);
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/** Every header of a message as text, the transport's own included. */
export function allHeaders(message: Message): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.properties.headers ?? {})) {
    const text = headerText(value);
    if (text !== undefined) out[name] = text;
  }
  return out;
}

/** The headers a handler sees: the producer's own plus the retry conventions shared with the engine. */
export function visibleHeaders(message: Message): Record<string, string> {
  const out: Record<string, string> = {};
  const headers = message.properties.headers;
  if (!headers) return out;
  for (const name of Object.keys(headers)) {
    if (PRIVATE.has(name) || BROKER.test(name)) continue;
    const text = headerText(headers[name]);
    if (text !== undefined) out[name] = text;
  }
  return out;
}

/** Failed attempts recorded on the copy (retry and resend copies carry them). */
export function reconsumeTimesOf(message: Message): number {
  return headerNumber(message.properties.headers, HEADER_RECONSUME_TIMES) ?? 0;
}

/** How many times the broker returned this copy to its queue (a consumer lost before its ack). */
export function deliveryCountOf(message: Message): number {
  return headerNumber(message.properties.headers, 'x-delivery-count') ?? 0;
}

export function tagsOf(message: Message): string[] {
  const text = headerText(message.properties.headers?.[H.tags]);
  if (!text) return [];
  try {
    const parsed: unknown = JSON.parse(text);
    return Array.isArray(parsed) ? parsed.map(String) : [];
  } catch {
    return [];
  }
}

export function decodeMessage(message: Message, extraAttempts = 0): InboundMessage {
  const headers = message.properties.headers;
  const id = headerText(headers?.[HEADER_ORIGINAL_ID]) ?? headerText(message.properties.messageId) ?? '';
  const topic = headerText(headers?.[HEADER_ORIGIN_TOPIC]) ?? headerText(headers?.[H.topic]) ?? '';
  return {
    id,
    topic,
    key: headerText(headers?.[H.key]) ?? null,
    tags: tagsOf(message),
    headers: visibleHeaders(message),
    body: message.content,
    attempt: reconsumeTimesOf(message) + deliveryCountOf(message) + extraAttempts,
    bornAt:
      headerNumber(headers, H.bornAt) ??
      (message.properties.timestamp ? Number(message.properties.timestamp) * 1000 : 0),
  };
}

/**
 * When this copy of a message entered the queue it was delivered from (epoch ms), which orders the queue: when it
 * came back from a retry or delay queue, the time RabbitMQ dead-lettered it back (`x-death`, to the second); when it
 * was resent from a DLQ, the resend; else its publish (`x-rmq-born-at`, or the AMQP `timestamp` in seconds of a
 * message published without it). 0 when the message says none of these.
 */
export function queuedAtOf(message: Message): number {
  const headers = message.properties.headers;
  const deaths: unknown = headers?.['x-death'];
  if (Array.isArray(deaths) && deaths.length > 0) {
    // The latest death comes first; its time is an AMQP timestamp in seconds, which amqplib decodes as
    // `{ '!': 'timestamp', value }`.
    const time = (deaths[0] as { time?: unknown } | null)?.time;
    const seconds = Number(typeof time === 'object' && time !== null ? (time as { value?: unknown }).value : time);
    if (Number.isFinite(seconds) && seconds > 0) return seconds * 1000;
  }
  return (
    headerNumber(headers, H.queuedAt) ??
    headerNumber(headers, H.bornAt) ??
    (message.properties.timestamp ? Number(message.properties.timestamp) * 1000 : 0)
  );
}

/**
 * A copy of a received message with changed headers, keeping its id, body and the transport's own headers. Used
 * for retry, DLQ, resend and audit copies.
 */
export function copyOf(
  message: Message,
  headers: Record<string, string>,
  body: Buffer = message.content,
): OutgoingAmqp {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(allHeaders(message))) if (!BROKER.test(name)) kept[name] = value;
  return {
    content: body,
    options: {
      messageId: headerText(message.properties.messageId),
      timestamp: message.properties.timestamp as number | undefined,
      persistent: true,
      mandatory: true,
      headers: { ...kept, ...headers },
    },
  };
}
