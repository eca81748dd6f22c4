import type { Delivery, HalfMessage, SubscribeOptions, TransactionOutcome } from '../engine.types';
import * as engineErrors from '../errors';

/** The engine methods a worker engine forwards as they are: arguments and results cross as structured clones. */
export const FORWARDED_METHODS = [
  'createTopic',
  'getTopic',
  'listTopics',
  'publish',
  'heartbeat',
  'runMaintenance',
  'listDeadLetters',
  'getDeadLetter',
  'resendDeadLetters',
  'discardDeadLetters',
  'sendHalf',
  'commitHalf',
  'rollbackHalf',
  'listHalfMessages',
  'getHalfMessage',
  'commitDiscardedHalves',
  'discardDiscardedHalves',
  'expandQueues',
  'backlog',
  'previewOffsetReset',
  'resetOffsets',
  'stats',
  'runRetention',
] as const;

export type ForwardedMethod = (typeof FORWARDED_METHODS)[number];

/** An error as it crosses between the threads: its class name, message, stack and own fields (`code`, …). */
export interface WireError {
  name: string;
  message: string;
  stack?: string;
  fields: Record<string, unknown>;
  /** It was an instance of the engine's error class of that name, not merely an error named like one. */
  engine?: true;
}

export type SubscribeRequest = Omit<SubscribeOptions, 'handler'>;

/** From the application's thread to the engine's. */
export type ToWorker =
  | { t: 'call'; id: number; method: ForwardedMethod; args: unknown[] }
  | { t: 'redistribute'; id: number; args: unknown[]; progress: boolean }
  | { t: 'subscribe'; id: number; sub: number; options: SubscribeRequest; readAhead: number }
  | { t: 'unsubscribe'; id: number; sub: number; timeoutMs?: number }
  | { t: 'assigned'; id: number; sub: number }
  | { t: 'settle'; delivery: number; error?: WireError }
  /** A delivery held for a free handler starts now. */
  | { t: 'begin'; delivery: number }
  /** A delivery held for a free handler goes back unhandled (its member is closing, or it waited past its timeout). */
  | { t: 'release'; delivery: number }
  | { t: 'checker'; id: number; checker: number; producerGroup: string }
  | { t: 'unchecker'; id: number; checker: number }
  | { t: 'answer'; check: number; outcome?: TransactionOutcome; error?: WireError }
  | { t: 'close'; id: number; timeoutMs?: number };

/** From the engine's thread to the application's. */
export type FromWorker =
  | { t: 'opened'; error?: WireError }
  | { t: 'result'; id: number; value?: unknown; error?: WireError }
  /** `deadline`: when the engine redelivers it unless its handler has started or ended (the engine's clock). */
  | { t: 'deliver'; sub: number; delivery: number; deadline: number; message: Delivery }
  | { t: 'check'; checker: number; check: number; half: HalfMessage }
  | { t: 'progress'; id: number; moved: number }
  | { t: 'error'; error: WireError }
  | { t: 'warning'; message: string };

/** What a worker engine starts its thread with. */
export interface WorkerStart {
  /** The engine options that can be cloned: everything but the clock and the callbacks. */
  options: Record<string, unknown>;
  /** The shared skew of a `SharedSkewClock`, when the caller gave one. */
  clockSkew?: SharedArrayBuffer;
}

export function errorToWire(error: unknown): WireError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error), fields: {} };
  const fields: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(error)) {
    if (field === 'name' || field === 'message' || field === 'stack') continue;
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) fields[field] = value;
  }
  const wire: WireError = { name: error.name, message: error.message, stack: error.stack, fields };
  const known = engineErrorClass(error.name);
  if (known && error instanceof known) wire.engine = true;
  return wire;
}

/**
 * The error again, as an instance of the engine's own class when it was one (so `instanceof` and `code` work as with
 * an engine in this thread), otherwise a plain `Error` with the same name and fields: a handler's error that only
 * bears an engine error's name (a remote client's failure, say) must not act as that error.
 */
export function errorFromWire(wire: WireError): Error {
  const known = wire.engine ? engineErrorClass(wire.name) : undefined;
  const error: Error = known ? (Object.create(known.prototype as object) as Error) : new Error(wire.message);
  Object.defineProperty(error, 'message', { value: wire.message, writable: true, configurable: true });
  Object.defineProperty(error, 'stack', { value: wire.stack ?? '', writable: true, configurable: true });
  Object.assign(error, wire.fields, { name: wire.name });
  return error;
}

function engineErrorClass(name: string): (abstract new (...args: never[]) => Error) | undefined {
  const known = Object.hasOwn(engineErrors, name) ? (engineErrors as Record<string, unknown>)[name] : undefined;
  return typeof known === 'function' && known.prototype instanceof Error
    ? (known as abstract new (...args: never[]) => Error)
    : undefined;
}

/**
 * Runs `work` (a forwarded call, a handler, a checker) now, and hands its outcome to `post` once it settles: the
 * value, or the error in its wire form (`what rejected` when it rejected with nothing). A synchronous throw counts
 * as a rejection.
 */
export function postOutcome<T>(
  work: () => T | PromiseLike<T>,
  what: string,
  post: (outcome: { value?: T; error?: WireError }) => void,
): void {
  let started: T | PromiseLike<T>;
  try {
    started = work();
  } catch (error) {
    started = Promise.reject(error);
  }
  Promise.resolve(started).then(
    (value) => post({ value }),
    (error: unknown) => post({ error: errorToWire(error ?? new Error(`${what} rejected`)) }),
  );
}

/** Promises waiting for the other thread's reply to a numbered question: a delivery's outcome, a checker's answer. */
export class AwaitedReplies<T> {
  private readonly waiting = new Map<number, { resolve: (value: T) => void; reject: (error: Error) => void }>();
  private next = 0;

  /** Posts a question under a fresh number; settles with the reply to that number. */
  ask(post: (id: number) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = this.next++;
      this.waiting.set(id, { resolve, reject });
      post(id);
    });
  }

  reply(id: number, value: T, error: WireError | undefined): void {
    const waiting = this.waiting.get(id);
    this.waiting.delete(id);
    if (error) waiting?.reject(errorFromWire(error));
    else waiting?.resolve(value);
  }
}

/**
 * Byte arrays before they are posted: a view on part of a larger buffer (Node pools small Buffers) is copied out,
 * or the whole pool would be cloned with it. Objects and arrays are copied only on the way to such a view; the
 * caller's own objects are never changed.
 */
export function compactBytes<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Uint8Array) {
    return (value.byteOffset === 0 && value.byteLength === value.buffer.byteLength ? value : value.slice()) as T;
  }
  if (Array.isArray(value)) {
    let copy: unknown[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const inner: unknown = value[i];
      const compact = compactBytes(inner);
      if (compact !== inner) (copy ??= [...value])[i] = compact;
    }
    return (copy ?? value) as T;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  let copy: Record<string, unknown> | null = null;
  for (const field in value) {
    const inner: unknown = (value as Record<string, unknown>)[field];
    if (inner === null || typeof inner !== 'object') continue;
    const compact = compactBytes(inner);
    if (compact !== inner) (copy ??= { ...(value as Record<string, unknown>) })[field] = compact;
  }
  return (copy ?? value) as T;
}

/** Byte arrays after they arrived: a clone of a Buffer is a plain Uint8Array; this makes it a Buffer again (no copy). */
export function reviveBytes<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Uint8Array) {
    return (Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength)) as T;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = reviveBytes(value[i]);
    return value;
  }
  if (Object.getPrototypeOf(value) === Object.prototype) {
    const record = value as Record<string, unknown>;
    for (const field in record) {
      const inner = record[field];
      if (inner !== null && typeof inner === 'object') record[field] = reviveBytes(inner);
    }
  }
  return value;
}
