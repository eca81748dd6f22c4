import { InvalidNameError, uuidv7, validateName } from '@reliable-mq/engine';
import { ConfigurationError } from '../errors/configuration.error';
import { InvalidMessageError } from '../errors/invalid-message.error';
import { PayloadTooLargeError } from '../errors/payload-too-large.error';
import type { TransportMessage } from '../transport/transport.interface';
import { payloadToJson } from './json-payload';
import type { OutgoingMessage } from './outgoing-message.interface';

/** A checked message in the form both the outbox and the transport take. */
export interface SerializedMessage {
  /** UUIDv7, assigned here so the outbox row and every resend of it carry the same id. */
  id: string;
  topic: string;
  key: string | null;
  tags: string[];
  headers: Record<string, string>;
  /** The payload's JSON text. */
  payload: string;
  /** Epoch ms; null when the message may be delivered at once. */
  deliverAt: number | null;
}

export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;
/** The outbox's `msg_key` column is VARCHAR(191): the longest key an index can hold in utf8mb4 on every MySQL. */
export const MAX_KEY_LENGTH = 191;
/** The engine's limit, checked here so a row the broker would refuse never reaches the outbox. */
export const MAX_TAG_LENGTH = 128;
export const MAX_HEADERS_BYTES = 64 * 1024;

export interface MessageSerializerOptions {
  /** Largest serialised payload in bytes. Default 1 MiB. */
  maxPayloadBytes?: number;
  /** Source of "now" for ids and delays; tests pin it. */
  now?: () => number;
}

/**
 * Checks an OutgoingMessage completely before anything is written or sent, because a row the broker refuses would
 * only fail later, in the relay, far from the code that made it.
 */
export class MessageSerializer {
  readonly maxPayloadBytes: number;
  private readonly now: () => number;

  constructor(options: MessageSerializerOptions = {}) {
    const limit = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    if (!Number.isInteger(limit) || limit < 1) {
      throw new ConfigurationError(`maxPayloadBytes must be a positive integer number of bytes; got ${String(limit)}.`);
    }
    this.maxPayloadBytes = limit;
    this.now = options.now ?? Date.now;
  }

  /**
   * Serialises every message or throws for the first bad one; `index` in the error says which. `now` is the
   * instant delays count from; pass the one the caller also records, so the two agree.
   */
  serializeAll(messages: readonly OutgoingMessage[], now: number = this.now()): SerializedMessage[] {
    if (!Array.isArray(messages)) throw new InvalidMessageError('expected a message or an array of messages');
    if (messages.length === 0) throw new InvalidMessageError('expected at least one message; got an empty array');
    return messages.map((message, index) => this.serializeAt(message, now, messages.length === 1 ? undefined : index));
  }

  serialize(message: OutgoingMessage): SerializedMessage {
    return this.serializeAt(message, this.now(), undefined);
  }

  private serializeAt(message: unknown, now: number, index: number | undefined): SerializedMessage {
    const fail = (problem: string): never => {
      throw new InvalidMessageError(problem, index);
    };
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      return fail(`expected an object with topic and payload; got ${describe(message)}`);
    }
    const input = message as Partial<OutgoingMessage> & Record<string, unknown>;
    const topic = checkTopic(input.topic, fail);
    const key = checkKey(input.key, fail);
    const tags = checkTags(input.tags, fail);
    const headers = checkHeaders(input.headers, fail);
    if (!('payload' in input)) fail('payload is missing; send null when there is nothing to say');
    const payload = plainJson(input.payload) ?? payloadToJson(input.payload);
    if (!payload.ok) return fail(payload.problem);
    // A UTF-16 unit takes at most 3 bytes in UTF-8, so a text that short cannot be over the limit: no count needed.
    if (payload.json.length * 3 > this.maxPayloadBytes) {
      const size = Buffer.byteLength(payload.json, 'utf8');
      if (size > this.maxPayloadBytes) throw new PayloadTooLargeError(size, this.maxPayloadBytes, index);
    }
    const deliverAt = checkSchedule(input.delayMs, input.deliverAt, now, fail);
    return { id: uuidv7(now), topic, key, tags, headers, payload: payload.json, deliverAt };
  }
}

/** The same message as a transport takes it, for direct sends. */
export function toTransportMessage(message: SerializedMessage): TransportMessage {
  const out: TransportMessage = {
    id: message.id,
    topic: message.topic,
    headers: { ...message.headers },
    body: Buffer.from(message.payload, 'utf8'),
  };
  if (message.key !== null) out.key = message.key;
  if (message.tags.length > 0) out.tags = [...message.tags];
  if (message.deliverAt !== null) out.deliverAt = message.deliverAt;
  return out;
}

type Fail = (problem: string) => never;

/** Deeper than this, the plain path leaves the payload to the full check (which also names cycles). */
const PLAIN_DEPTH = 32;

/**
 * The common case at native speed: a payload made of plain objects, arrays, strings, finite numbers, booleans, null
 * and Dates serialises with JSON.stringify exactly as the full check would, so a quick walk that finds nothing else
 * lets it skip the per-value replacer. Anything else (a value JSON would alter, a `toJSON` of its own, a cycle, a
 * throwing getter, great depth) returns undefined, and `payloadToJson` decides and explains.
 */
function plainJson(payload: unknown): { ok: true; json: string } | undefined {
  try {
    if (!isPlain(payload, 0)) return undefined;
    const json = JSON.stringify(payload) as string | undefined;
    return json === undefined ? undefined : { ok: true, json };
  } catch {
    return undefined;
  }
}

function isPlain(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (value === null) return true;
      if (depth >= PLAIN_DEPTH) return false;
      if (Array.isArray(value)) {
        for (let index = 0; index < value.length; index++) {
          if (!isPlain(value[index], depth + 1)) return false;
        }
        return true;
      }
      // A Date serialises through its own toJSON to a string (or null when invalid), as under the full check.
      if (value instanceof Date) return true;
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
      const prototype = Object.getPrototypeOf(value) as unknown;
      if (prototype !== Object.prototype && prototype !== null) return false;
      for (const key in value) {
        if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
        const child = (value as Record<string, unknown>)[key];
        // An absent optional field: JSON leaves it out, and so does the full check.
        if (child === undefined) continue;
        if (!isPlain(child, depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string')
    return `the string ${JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)}`;
  return typeof value;
}

function checkTopic(topic: unknown, fail: Fail): string {
  try {
    validateName('topic', topic);
  } catch (error) {
    if (error instanceof InvalidNameError) fail(error.message);
    throw error;
  }
  const name = topic as string;
  // The broker's own retry and DLQ topics start with `%`; publishing into them bypasses the group that owns them.
  if (name.startsWith('%'))
    fail(`topic ${JSON.stringify(name)} is reserved: names starting with "%" are the broker's retry and DLQ topics`);
  return name;
}

function checkKey(key: unknown, fail: Fail): string | null {
  if (key === undefined || key === null) return null;
  if (typeof key !== 'string') return fail(`key must be a string; got ${describe(key)}`);
  if (key.length === 0) return fail('key is an empty string; leave it out when the message has no business key');
  if (key.length > MAX_KEY_LENGTH) return fail(`key is ${key.length} characters long; the limit is ${MAX_KEY_LENGTH}`);
  return key;
}

function checkTags(tags: unknown, fail: Fail): string[] {
  if (tags === undefined || tags === null) return [];
  const list: unknown[] =
    typeof tags === 'string'
      ? [tags]
      : Array.isArray(tags)
        ? tags
        : fail(`tags must be a string or an array of strings; got ${describe(tags)}`);
  return list.map((tag, position) => {
    if (typeof tag !== 'string') return fail(`tags[${position}] must be a string; got ${describe(tag)}`);
    if (tag.length === 0 || tag.length > MAX_TAG_LENGTH)
      return fail(`tags[${position}] must be 1–${MAX_TAG_LENGTH} characters long; got ${tag.length}`);
    // `||` separates alternatives in subscription tag expressions, so a tag containing it could never be matched.
    if (tag.includes('||'))
      return fail(`tags[${position}] ${JSON.stringify(tag)} contains "||", which subscriptions use to separate tags`);
    return tag;
  });
}

function checkHeaders(headers: unknown, fail: Fail): Record<string, string> {
  if (headers === undefined || headers === null) return {};
  if (typeof headers !== 'object' || Array.isArray(headers))
    return fail(`headers must be an object of strings; got ${describe(headers)}`);
  const prototype = Object.getPrototypeOf(headers) as unknown;
  if (prototype !== Object.prototype && prototype !== null)
    fail('headers must be a plain object of strings (a Map or class instance is not)');
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
    if (name.length === 0) fail('a header name is empty');
    if (typeof value !== 'string') fail(`header ${JSON.stringify(name)} must be a string; got ${describe(value)}`);
    out[name] = value as string;
  }
  const size = Buffer.byteLength(JSON.stringify(out), 'utf8');
  if (size > MAX_HEADERS_BYTES) fail(`headers serialise to ${size} bytes; the limit is ${MAX_HEADERS_BYTES}`);
  return out;
}

function checkSchedule(delayMs: unknown, deliverAt: unknown, now: number, fail: Fail): number | null {
  if (delayMs !== undefined && deliverAt !== undefined) fail('give either delayMs or deliverAt, not both');
  if (delayMs !== undefined) {
    if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0) {
      fail(
        `delayMs must be a finite number of milliseconds ≥ 0; got ${typeof delayMs === 'number' ? String(delayMs) : describe(delayMs)}`,
      );
    }
    return (delayMs as number) > 0 ? now + Math.ceil(delayMs as number) : null;
  }
  if (deliverAt !== undefined) {
    const at = deliverAt instanceof Date ? deliverAt.getTime() : deliverAt;
    if (typeof at !== 'number' || !Number.isFinite(at) || at < 0) {
      fail(
        `deliverAt must be a valid Date or epoch milliseconds ≥ 0; got ${deliverAt instanceof Date ? 'an invalid Date' : typeof at === 'number' ? String(at) : describe(deliverAt)}`,
      );
    }
    return (at as number) > now ? Math.ceil(at as number) : null;
  }
  return null;
}
