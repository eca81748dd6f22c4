import type { PublishMessage } from '../engine.types';
import { BatchTooLargeError, InvalidArgumentError, MessageTooLargeError } from '../errors';
import { encodeHeaders, encodeTags, type NewMessage } from '../storage/message-row';
import { delayForLevel } from '../util/duration';
import { validateName } from '../util/names';
import { uuidv7 } from '../util/uuid-v7';

export interface PreparedMessage {
  message: NewMessage;
  /** null when the message is visible at once. */
  deliverAt: number | null;
  /** The engine made the id up here, so no stored message can hold it yet: no duplicate lookup is needed. */
  generatedId: boolean;
}

export interface PrepareLimits {
  maxBodyBytes: number;
  maxBatchSize: number;
  delayLevels: readonly number[];
}

const MAX_ID_LENGTH = 128;
const MAX_KEY_LENGTH = 1024;
const MAX_TAG_LENGTH = 128;

function fail(index: number, problem: string): never {
  throw new InvalidArgumentError(`Message #${index}: ${problem}. Nothing in the batch was stored.`);
}

function toBody(index: number, body: unknown): Buffer {
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  return fail(index, `body must be a Buffer, Uint8Array or string, got ${body === null ? 'null' : typeof body}`);
}

function optionalTime(index: number, name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    fail(index, `${name} must be a non-negative number of milliseconds, got ${JSON.stringify(value)}`);
  }
  return Math.floor(value);
}

/**
 * Checks a whole batch before anything is written, so that a rejected batch writes
 * nothing, and turns each message into its stored form.
 */
export function prepareBatch(messages: unknown, limits: PrepareLimits, now: number): PreparedMessage[] {
  if (!Array.isArray(messages)) {
    throw new InvalidArgumentError('publish() takes an array of messages.');
  }
  if (messages.length === 0) throw new InvalidArgumentError('publish() needs at least one message.');
  if (messages.length > limits.maxBatchSize) throw new BatchTooLargeError(messages.length, limits.maxBatchSize);
  return messages.map((raw: unknown, index) => prepareOne(raw, index, limits, now));
}

function prepareOne(raw: unknown, index: number, limits: PrepareLimits, now: number): PreparedMessage {
  if (typeof raw !== 'object' || raw === null) fail(index, 'expected an object with at least topic and body');
  const input = raw as PublishMessage;
  try {
    validateName('topic', input.topic);
  } catch (error) {
    fail(index, (error as Error).message);
  }
  const body = toBody(index, input.body);
  if (body.length > limits.maxBodyBytes) throw new MessageTooLargeError(body.length, limits.maxBodyBytes, index);
  const messageId = input.messageId ?? uuidv7(now);
  if (typeof messageId !== 'string' || messageId.length === 0 || messageId.length > MAX_ID_LENGTH) {
    fail(index, `messageId must be a string of 1–${MAX_ID_LENGTH} characters`);
  }
  const key = input.key ?? null;
  if (key !== null && (typeof key !== 'string' || key.length > MAX_KEY_LENGTH)) {
    fail(index, `key must be a string of at most ${MAX_KEY_LENGTH} characters`);
  }
  const tagList = input.tags === undefined ? [] : typeof input.tags === 'string' ? [input.tags] : input.tags;
  if (
    !Array.isArray(tagList) ||
    tagList.some(
      (tag) => typeof tag !== 'string' || tag.length === 0 || tag.length > MAX_TAG_LENGTH || tag.includes('||'),
    )
  ) {
    fail(
      index,
      `tags must be a string or an array of non-empty strings of at most ${MAX_TAG_LENGTH} characters without "||"`,
    );
  }
  const headers = input.headers ?? {};
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers))
    fail(index, 'headers must be an object of strings');
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value !== 'string') fail(index, `header "${name}" must be a string, got ${typeof value}`);
  }
  const delayMs = optionalTime(index, 'delayMs', input.delayMs);
  const deliverAtInput = optionalTime(index, 'deliverAt', input.deliverAt);
  const ttlMs = optionalTime(index, 'ttlMs', input.ttlMs);
  let delayLevelMs: number | undefined;
  if (input.delayLevel !== undefined) {
    if (!Number.isInteger(input.delayLevel) || input.delayLevel < 1 || input.delayLevel > limits.delayLevels.length) {
      fail(index, `delayLevel must be an integer from 1 to ${limits.delayLevels.length}`);
    }
    delayLevelMs = delayForLevel(limits.delayLevels, input.delayLevel);
  }
  const given = [delayMs, deliverAtInput, delayLevelMs].filter((value) => value !== undefined);
  if (given.length > 1) fail(index, 'give at most one of delayMs, deliverAt and delayLevel');
  let deliverAt: number | null = null;
  if (delayMs !== undefined && delayMs > 0) deliverAt = now + delayMs;
  if (delayLevelMs !== undefined) deliverAt = now + delayLevelMs;
  if (deliverAtInput !== undefined && deliverAtInput > now) deliverAt = deliverAtInput;
  return {
    message: {
      messageId,
      topic: input.topic,
      key,
      tags: encodeTags(tagList as string[]),
      headers: encodeHeaders(headers),
      body,
      bornAt: now,
      expireAt: ttlMs === undefined ? null : now + ttlMs,
    },
    deliverAt,
    generatedId: input.messageId === undefined,
  };
}
