import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '../errors/configuration.error';
import { InvalidMessageError } from '../errors/invalid-message.error';
import { PayloadTooLargeError } from '../errors/payload-too-large.error';
import { payloadToJson } from './json-payload';
import { MessageSerializer, toTransportMessage } from './message-serializer';
import type { OutgoingMessage } from './outgoing-message.interface';

const NOW = 1_700_000_000_000;
const serializer = new MessageSerializer({ now: () => NOW });

/** Casts bad input past the types, as JavaScript callers and `as any` do. */
const loose = (message: Record<string, unknown>): OutgoingMessage => message as unknown as OutgoingMessage;

function problemOf(message: Record<string, unknown>): string {
  try {
    serializer.serialize(loose(message));
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidMessageError);
    return (error as Error).message;
  }
  throw new Error('expected the message to be refused');
}

describe('MessageSerializer', () => {
  it('serialises a well-formed message', () => {
    const result = serializer.serialize({
      topic: 'order.created',
      key: 'order-42',
      tags: 'eu',
      headers: { traceparent: '00-abc' },
      payload: { id: 42, at: new Date(NOW), items: [1, 2] },
    });
    expect(result.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(result).toMatchObject({
      topic: 'order.created',
      key: 'order-42',
      tags: ['eu'],
      headers: { traceparent: '00-abc' },
      deliverAt: null,
    });
    expect(JSON.parse(result.payload)).toEqual({ id: 42, at: new Date(NOW).toISOString(), items: [1, 2] });
    const wire = toTransportMessage(result);
    expect(wire.body.toString('utf8')).toBe(result.payload);
    expect(wire).toMatchObject({ id: result.id, key: 'order-42', tags: ['eu'] });
    expect(wire.deliverAt).toBeUndefined();
  });

  it('gives every message its own time-ordered id', () => {
    const ids = serializer
      .serializeAll(Array.from({ length: 50 }, () => ({ topic: 't', payload: null })))
      .map((m) => m.id);
    expect(new Set(ids).size).toBe(50);
    expect([...ids].sort()).toEqual(ids);
  });

  it('turns delayMs and deliverAt into an absolute instant', () => {
    expect(serializer.serialize({ topic: 't', payload: 1, delayMs: 1500 }).deliverAt).toBe(NOW + 1500);
    expect(serializer.serialize({ topic: 't', payload: 1, delayMs: 0 }).deliverAt).toBeNull();
    expect(serializer.serialize({ topic: 't', payload: 1, deliverAt: new Date(NOW + 60_000) }).deliverAt).toBe(
      NOW + 60_000,
    );
    expect(serializer.serialize({ topic: 't', payload: 1, deliverAt: NOW - 1 }).deliverAt).toBeNull();
  });

  it('accepts class instances that JSON can represent, and drops absent optional fields', () => {
    class Money {
      constructor(
        readonly amount: number,
        readonly currency: string,
      ) {}
      format(): string {
        return `${this.amount} ${this.currency}`;
      }
    }
    const result = serializer.serialize({ topic: 't', payload: { price: new Money(5, 'EUR'), note: undefined } });
    expect(JSON.parse(result.payload)).toEqual({ price: { amount: 5, currency: 'EUR' } });
  });

  it('writes every payload exactly as the full check does, whichever path serialises it', () => {
    class Money {
      constructor(
        readonly amount: number,
        readonly currency: string,
      ) {}
    }
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1 });
    let deep: unknown = 'leaf';
    for (let level = 0; level < 40; level++) deep = { level, child: deep };
    const payloads: unknown[] = [
      null,
      0,
      'text',
      true,
      [],
      {},
      { orderId: 'o-1', lines: [{ sku: 'A', qty: 2 }], total: 42.5, paid: false, note: null, skipped: undefined },
      { at: new Date(NOW), never: new Date(Number.NaN) },
      bare,
      new Money(10, 'EUR'),
      { raw: Buffer.from('hi') },
      { custom: { toJSON: () => ({ replaced: true }) } },
      deep,
    ];
    for (const payload of payloads) {
      const expected = payloadToJson(payload);
      expect(expected.ok).toBe(true);
      expect(serializer.serialize({ topic: 't', payload }).payload).toBe((expected as { json: string }).json);
    }
  });

  it('refuses a payload whose getter throws, naming the error', () => {
    const payload = {
      get total(): number {
        throw new Error('not loaded');
      },
    };
    expect(problemOf({ topic: 't', payload })).toMatch(/cannot be serialised to JSON: not loaded/);
  });

  describe('refuses a payload that would not arrive as written', () => {
    it('circular reference', () => {
      const order: Record<string, unknown> = { id: 1 };
      order.self = order;
      expect(problemOf({ topic: 't', payload: order })).toMatch(/circular/);
    });

    it.each([
      ['undefined', undefined, /payload is undefined/],
      ['a function', { total: 1, compute: () => 2 }, /payload\.compute is a function/],
      ['a symbol', { kind: Symbol('x') }, /payload\.kind is a symbol/],
      ['a BigInt', { amount: 10n }, /payload\.amount is a BigInt.*string/],
      ['NaN', { ratio: Number.NaN }, /payload\.ratio is NaN/],
      ['Infinity', { items: [1, Number.POSITIVE_INFINITY] }, /payload\.items\[1\] is Infinity/],
      ['undefined inside an array', { items: [1, undefined] }, /payload\.items\[1\] is undefined/],
      ['a Map', { byId: new Map([[1, 'a']]) }, /payload\.byId is a Map/],
      ['a Set', { 'odd key': new Set([1]) }, /payload\["odd key"\] is a Set/],
    ])('%s', (_label, payload, problem) => {
      expect(problemOf({ topic: 't', payload })).toMatch(problem);
    });

    it('a missing payload', () => {
      expect(problemOf({ topic: 't' })).toMatch(/payload is missing/);
    });

    it('a toJSON that throws', () => {
      expect(
        problemOf({
          topic: 't',
          payload: {
            toJSON() {
              throw new Error('boom');
            },
          },
        }),
      ).toMatch(/cannot be serialised to JSON: boom/);
    });
  });

  describe('payload size', () => {
    const small = new MessageSerializer({ maxPayloadBytes: 100 });

    it('accepts a payload exactly at the limit and refuses one byte more, naming the limit', () => {
      expect(() => small.serialize({ topic: 't', payload: 'x'.repeat(98) })).not.toThrow();
      const error = (() => {
        try {
          small.serialize({ topic: 't', payload: 'x'.repeat(99) });
        } catch (caught) {
          return caught;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(PayloadTooLargeError);
      expect(error).toMatchObject({ sizeBytes: 101, limitBytes: 100 });
      expect((error as Error).message).toMatch(/limit is 100 bytes \(maxPayloadBytes\)/);
    });

    it('counts UTF-8 bytes, not characters', () => {
      expect(() => small.serialize({ topic: 't', payload: 'é'.repeat(60) })).toThrow(PayloadTooLargeError);
    });

    it('defaults to 1 MiB', () => {
      expect(serializer.maxPayloadBytes).toBe(1024 * 1024);
      expect(() => serializer.serialize({ topic: 't', payload: 'x'.repeat(1024 * 1024) })).toThrow(
        PayloadTooLargeError,
      );
    });

    it('refuses a nonsensical limit at construction', () => {
      expect(() => new MessageSerializer({ maxPayloadBytes: 0 })).toThrow(ConfigurationError);
      expect(() => new MessageSerializer({ maxPayloadBytes: 1.5 })).toThrow(ConfigurationError);
    });
  });

  describe('topic', () => {
    it.each([
      ['missing', undefined, /Invalid topic name undefined: expected a string/],
      ['not a string', 42, /expected a string, got number/],
      ['empty', '', /length must be 1–127/],
      ['too long', 'x'.repeat(128), /length must be 1–127 characters, got 128/],
      ['with a space', 'order created', /only letters, digits/],
      ['a broker system topic', '%DLQ%billing', /reserved/],
    ])('%s', (_label, topic, problem) => {
      expect(problemOf({ topic, payload: 1 })).toMatch(problem);
    });
  });

  describe('key, tags and headers', () => {
    it.each([
      ['key not a string', { key: 42 }, /key must be a string; got number/],
      ['empty key', { key: '' }, /key is an empty string/],
      ['key over 191 characters', { key: 'k'.repeat(192) }, /192 characters long; the limit is 191/],
      ['tags not strings', { tags: ['a', 7] }, /tags\[1\] must be a string/],
      ['tags of the wrong type', { tags: 7 }, /tags must be a string or an array/],
      ['empty tag', { tags: [''] }, /tags\[0\] must be 1–128/],
      ['tag with ||', { tags: 'a||b' }, /contains "\|\|"/],
      ['headers as an array', { headers: ['a'] }, /headers must be an object of strings; got an array/],
      ['header value not a string', { headers: { attempt: 3 } }, /header "attempt" must be a string; got number/],
      ['headers as a Map', { headers: new Map([['a', 'b']]) }, /plain object/],
      [
        'headers too large',
        { headers: { big: 'x'.repeat(70_000) } },
        /headers serialise to \d+ bytes; the limit is 65536/,
      ],
    ])('%s', (_label, fields, problem) => {
      expect(problemOf({ topic: 't', payload: 1, ...fields })).toMatch(problem);
    });

    it('accepts a key of exactly 191 characters', () => {
      expect(serializer.serialize({ topic: 't', key: 'k'.repeat(191), payload: 1 }).key).toHaveLength(191);
    });
  });

  describe('schedule', () => {
    it.each([
      ['negative delay', { delayMs: -1 }, /delayMs must be a finite number of milliseconds ≥ 0; got -1/],
      ['NaN delay', { delayMs: Number.NaN }, /got NaN/],
      ['infinite delay', { delayMs: Number.POSITIVE_INFINITY }, /got Infinity/],
      ['delay as a string', { delayMs: '5s' }, /got the string "5s"/],
      ['invalid Date', { deliverAt: new Date('nope') }, /deliverAt must be a valid Date.*invalid Date/],
      ['deliverAt as a string', { deliverAt: '2030-01-01' }, /deliverAt must be a valid Date/],
      ['both delay and deliverAt', { delayMs: 5, deliverAt: NOW }, /either delayMs or deliverAt/],
    ])('%s', (_label, fields, problem) => {
      expect(problemOf({ topic: 't', payload: 1, ...fields })).toMatch(problem);
    });
  });

  describe('batches', () => {
    it('refuses a non-object message', () => {
      expect(problemOf(null as unknown as Record<string, unknown>)).toMatch(
        /expected an object with topic and payload; got null/,
      );
    });

    it('refuses an empty batch', () => {
      expect(() => serializer.serializeAll([])).toThrow(/at least one message/);
    });

    it('names the position of the bad message in a batch', () => {
      expect(() =>
        serializer.serializeAll([
          { topic: 'ok', payload: 1 },
          { topic: 'bad topic', payload: 1 },
        ]),
      ).toThrow(/^Message #1: Invalid topic name "bad topic"/);
    });
  });
});
