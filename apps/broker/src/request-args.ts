import { InvalidArgumentError } from '@reliable-mq/engine';
import { ProtocolError, ProtocolErrorCode } from '@reliable-mq/protocol';

/**
 * Shape checks for call arguments. A request whose arguments have the wrong types is a broken or hostile client:
 * it gets a fatal BAD_REQUEST and the connection is closed. A value of the right type out of its range (a `limit` too
 * large, a name too long, a mode not known) fails that call only with INVALID_ARGUMENT, as values the engine refuses
 * (an invalid name, an unknown topic) do: the connection goes on.
 */
export class Args {
  private constructor(
    private readonly op: string,
    private readonly value: Record<string, unknown>,
  ) {}

  static of(op: string, raw: unknown): Args {
    if (raw === undefined || raw === null) return new Args(op, {});
    if (!isPlainObject(raw)) throw bad(op, 'arguments must be a map');
    return new Args(op, raw);
  }

  private fail(field: string, expected: string): never {
    throw bad(this.op, `\`${field}\` must be ${expected}; got ${describe(this.value[field])}`);
  }

  private outOfRange(field: string, expected: string): never {
    throw new InvalidArgumentError(
      `Call "${this.op}": \`${field}\` must be ${expected}; got ${describe(this.value[field])}.`,
    );
  }

  string(field: string, maxLength = 1024): string {
    const value = this.value[field];
    if (typeof value !== 'string') this.fail(field, `a string of at most ${maxLength} characters`);
    if (value.length > maxLength) this.outOfRange(field, `a string of at most ${maxLength} characters`);
    return value;
  }

  optionalString(field: string, maxLength = 1024): string | undefined {
    return this.value[field] === undefined || this.value[field] === null ? undefined : this.string(field, maxLength);
  }

  integer(field: string, min: number, max: number): number {
    const value = this.value[field];
    if (typeof value !== 'number') this.fail(field, `an integer from ${min} to ${max}`);
    if (!Number.isInteger(value) || value < min || value > max)
      this.outOfRange(field, `an integer from ${min} to ${max}`);
    return value;
  }

  optionalInteger(field: string, min: number, max: number): number | undefined {
    return this.value[field] === undefined || this.value[field] === null ? undefined : this.integer(field, min, max);
  }

  optionalNumber(field: string, min: number): number | undefined {
    const value = this.value[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number') this.fail(field, `a number ≥ ${min}`);
    if (!Number.isFinite(value) || value < min) this.outOfRange(field, `a number ≥ ${min}`);
    return value;
  }

  optionalBoolean(field: string): boolean | undefined {
    const value = this.value[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') this.fail(field, 'true or false');
    return value;
  }

  oneOf<T extends string>(field: string, allowed: readonly T[]): T {
    const value = this.value[field];
    const expected = `one of ${allowed.map((item) => JSON.stringify(item)).join(', ')}`;
    if (typeof value !== 'string') this.fail(field, expected);
    if (!(allowed as readonly string[]).includes(value)) this.outOfRange(field, expected);
    return value as T;
  }

  optionalOneOf<T extends string>(field: string, allowed: readonly T[]): T | undefined {
    return this.value[field] === undefined || this.value[field] === null ? undefined : this.oneOf(field, allowed);
  }

  bytes(field: string): Buffer {
    const value = this.value[field];
    if (!(value instanceof Uint8Array)) this.fail(field, 'binary (MessagePack bin)');
    return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }

  optionalBytes(field: string): Buffer | undefined {
    return this.value[field] === undefined || this.value[field] === null ? undefined : this.bytes(field);
  }

  stringArray(field: string, maxItems: number, maxLength = 1024): string[] {
    const value = this.value[field];
    const expected = `an array of at most ${maxItems} strings of at most ${maxLength} characters`;
    if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) this.fail(field, expected);
    if (value.length > maxItems || (value as string[]).some((item) => item.length > maxLength))
      this.outOfRange(field, expected);
    return value as string[];
  }

  optionalStringArray(field: string, maxItems: number, maxLength = 1024): string[] | undefined {
    return this.value[field] === undefined || this.value[field] === null
      ? undefined
      : this.stringArray(field, maxItems, maxLength);
  }

  integerArray(field: string, maxItems: number): number[] {
    const value = this.value[field];
    const expected = `an array of at most ${maxItems} integers`;
    if (!Array.isArray(value) || value.some((item) => typeof item !== 'number')) this.fail(field, expected);
    if (value.length > maxItems || (value as number[]).some((item) => !Number.isSafeInteger(item)))
      this.outOfRange(field, expected);
    return value as number[];
  }

  optionalStringMap(field: string, maxEntries: number): Record<string, string> | undefined {
    const value = this.value[field];
    if (value === undefined || value === null) return undefined;
    if (!isPlainObject(value)) this.fail(field, 'a map of strings');
    const entries = Object.entries(value);
    if (entries.some(([, item]) => typeof item !== 'string')) this.fail(field, `a map of string values`);
    if (entries.length > maxEntries) this.outOfRange(field, `a map of at most ${maxEntries} string values`);
    return value as Record<string, string>;
  }

  /** A nested map, checked with the same rules under the name `field`. */
  object(field: string): Args {
    const value = this.value[field];
    if (!isPlainObject(value)) this.fail(field, 'a map');
    return new Args(`${this.op} ${field}`, value);
  }

  optionalObject(field: string): Args | undefined {
    return this.value[field] === undefined || this.value[field] === null ? undefined : this.object(field);
  }

  /** The elements of an array of maps. */
  objects(field: string, maxItems: number): Args[] {
    const value = this.value[field];
    if (!Array.isArray(value)) this.fail(field, `an array of at most ${maxItems} maps`);
    if (value.length > maxItems) this.outOfRange(field, `an array of at most ${maxItems} maps`);
    return value.map((item, index) => {
      if (!isPlainObject(item)) this.fail(`${field}[${index}]`, 'a map');
      return new Args(`${this.op} ${field}[${index}]`, item);
    });
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function bad(op: string, problem: string): ProtocolError {
  return new ProtocolError(ProtocolErrorCode.BAD_REQUEST, `Call "${op}": ${problem}.`, true);
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (value instanceof Uint8Array) return `${value.byteLength} bytes of binary`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'string')
    return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === 'object') return 'a map';
  return `${typeof value} ${String(value)}`;
}
