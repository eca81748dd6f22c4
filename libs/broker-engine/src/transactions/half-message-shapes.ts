import type { HalfMessage } from '../engine.types';

/** A half message without its body: what every shape of it (wire, view, audit) shares. */
export type HalfMessageFields = Omit<HalfMessage, 'body'>;

/** A half message on the broker protocol: msgpack carries the body as bytes. */
export type WireHalfMessage = HalfMessageFields & { body: Uint8Array };

/** A half message as an operator's screen shows it: the body replaced by a view of the payload. */
export type HalfMessageView<Payload> = HalfMessageFields & { payload: Payload };

/** The one list of a half message's fields; tags and headers are copied so that no shape shares them. */
export function halfMessageFields(half: HalfMessageFields): HalfMessageFields {
  return {
    txId: half.txId,
    messageId: half.messageId,
    producerGroup: half.producerGroup,
    topic: half.topic,
    key: half.key,
    tags: [...half.tags],
    headers: { ...half.headers },
    sentAt: half.sentAt,
    state: half.state,
    checkCount: half.checkCount,
    nextCheckAt: half.nextCheckAt,
    reason: half.reason,
    resolvedAt: half.resolvedAt,
    resolvedBy: half.resolvedBy,
  };
}

export function toWireHalfMessage(half: HalfMessage): WireHalfMessage {
  return { ...halfMessageFields(half), body: half.body };
}

/** Reads a half message off the wire; absent tags and headers become empty ones. */
export function fromWireHalfMessage(wire: unknown): HalfMessage {
  const half = (typeof wire === 'object' && wire !== null ? wire : {}) as Partial<WireHalfMessage>;
  const fields = halfMessageFields({
    ...half,
    tags: half.tags ?? [],
    headers: half.headers ?? {},
  } as HalfMessageFields);
  return { ...fields, body: bufferOf(half.body) };
}

export function halfMessageView<Payload>(half: HalfMessage, payload: Payload): HalfMessageView<Payload> {
  return { ...halfMessageFields(half), payload };
}

function bufferOf(bytes: Uint8Array | undefined): Buffer {
  if (bytes === undefined) return Buffer.alloc(0);
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
