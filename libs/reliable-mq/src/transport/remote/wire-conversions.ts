import { fromWireHalfMessage, type DeadLetter, type DeadLetterPage, type HalfMessagePage } from '@reliable-mq/engine';
import type { InboundMessage, TransportMessage } from '../transport.interface';
import type { WireDelivery, WireMessage } from '@reliable-mq/protocol';

/** Binary from the decoder is a view into the frame; a Buffer over the same bytes, no copy. */
export function toBuffer(value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  return Buffer.alloc(0);
}

export function toWireMessage(message: TransportMessage): WireMessage {
  return {
    id: message.id,
    topic: message.topic,
    body: message.body,
    ...(message.key !== undefined ? { key: message.key } : {}),
    ...(message.tags !== undefined ? { tags: message.tags } : {}),
    ...(Object.keys(message.headers).length > 0 ? { headers: message.headers } : {}),
    ...(message.deliverAt !== undefined ? { deliverAt: message.deliverAt } : {}),
  };
}

/** Bytes a message takes on the wire beyond its body, estimated from above, for splitting batches into frames. */
export function wireOverhead(message: TransportMessage): number {
  let size = 64 + message.id.length + message.topic.length + (message.key?.length ?? 0) * 3;
  for (const tag of message.tags ?? []) size += 8 + tag.length * 3;
  for (const [name, value] of Object.entries(message.headers)) size += 16 + (name.length + value.length) * 3;
  return size;
}

const isStringRecord = (value: unknown): value is Record<string, string> =>
  typeof value === 'object' &&
  value !== null &&
  !Array.isArray(value) &&
  Object.values(value).every((item) => typeof item === 'string');

/** Reads a `deliver` event; null when it is not shaped as the protocol says. */
export function readDelivery(args: unknown): (WireDelivery & { message: InboundMessage }) | null {
  if (typeof args !== 'object' || args === null) return null;
  const wire = args as Partial<WireDelivery>;
  if (
    !Number.isSafeInteger(wire.sub) ||
    !Number.isSafeInteger(wire.tag) ||
    typeof wire.id !== 'string' ||
    typeof wire.topic !== 'string' ||
    !(wire.body instanceof Uint8Array) ||
    !Array.isArray(wire.tags) ||
    !isStringRecord(wire.headers) ||
    typeof wire.attempt !== 'number' ||
    typeof wire.bornAt !== 'number'
  ) {
    return null;
  }
  return {
    ...(wire as WireDelivery),
    message: {
      id: wire.id,
      topic: wire.topic,
      key: typeof wire.key === 'string' ? wire.key : null,
      tags: wire.tags.filter((tag): tag is string => typeof tag === 'string'),
      headers: { ...wire.headers },
      body: toBuffer(wire.body),
      attempt: wire.attempt,
      bornAt: wire.bornAt,
    },
  };
}

export function toHalfPage(wire: unknown): HalfMessagePage {
  const page = wire as HalfMessagePage;
  return { total: page.total, items: (page.items ?? []).map(fromWireHalfMessage) };
}

export function toDeadLetter(wire: unknown): DeadLetter {
  const letter = wire as DeadLetter;
  return { ...letter, body: toBuffer(letter.body), headers: { ...letter.headers }, tags: [...(letter.tags ?? [])] };
}

export function toDeadLetterPage(wire: unknown): DeadLetterPage {
  const page = wire as DeadLetterPage;
  return { total: page.total, items: (page.items ?? []).map(toDeadLetter) };
}
