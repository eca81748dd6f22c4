/**
 * JSON.stringify quietly changes some values instead of failing: NaN and Infinity become null, `undefined` in an
 * array becomes null, a Map or Set becomes `{}`, a function or symbol disappears. A message is a contract with
 * another service, so a payload that would not arrive as written is refused, with the path of the offending value.
 * Absent object properties (`undefined`) stay allowed: they are how optional fields look in TypeScript.
 */
export type PayloadCheck = { ok: true; json: string } | { ok: false; problem: string };

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function childPath(parent: string, key: string, holder: unknown): string {
  if (Array.isArray(holder)) return `${parent}[${key}]`;
  return IDENTIFIER.test(key) ? `${parent}.${key}` : `${parent}[${JSON.stringify(key)}]`;
}

class PayloadProblem extends Error {}

function describeKind(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'bigint') return 'a BigInt';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return 'a symbol';
  if (value instanceof Map) return 'a Map';
  if (value instanceof Set) return 'a Set';
  if (value instanceof WeakMap || value instanceof WeakSet) return 'a weak collection';
  return 'undefined';
}

export function payloadToJson(payload: unknown): PayloadCheck {
  if (payload === undefined) return { ok: false, problem: 'payload is undefined; send null or a value' };
  // Paths are kept per holder object, so the replacer can name where a bad value sits without a second walk.
  const paths = new WeakMap<object, string>();
  let json: string | undefined;
  try {
    json = JSON.stringify(payload, function replacer(this: unknown, key: string, value: unknown): unknown {
      const path =
        key === '' && !paths.has(this as object)
          ? 'payload'
          : childPath(paths.get(this as object) ?? 'payload', key, this);
      const inArray = Array.isArray(this);
      switch (typeof value) {
        case 'number':
          if (!Number.isFinite(value))
            throw new PayloadProblem(`${path} is ${describeKind(value)}, which JSON turns into null`);
          return value;
        case 'bigint':
          throw new PayloadProblem(`${path} is a BigInt, which JSON cannot represent; send it as a string`);
        case 'function':
        case 'symbol':
          throw new PayloadProblem(`${path} is ${describeKind(value)}, which JSON cannot represent`);
        case 'undefined':
          if (inArray) throw new PayloadProblem(`${path} is undefined, which JSON turns into null`);
          if (key === '') throw new PayloadProblem(`${path} serialises to nothing`);
          return value;
        case 'object':
          if (value === null) return value;
          if (value instanceof Map || value instanceof Set || value instanceof WeakMap || value instanceof WeakSet) {
            throw new PayloadProblem(
              `${path} is ${describeKind(value)}, which JSON turns into {}; convert it to an array or object`,
            );
          }
          paths.set(value, path);
          return value;
        default:
          return value;
      }
    });
  } catch (error) {
    if (error instanceof PayloadProblem) return { ok: false, problem: error.message };
    // V8 reports cycles as a TypeError naming the path; anything else is a throwing toJSON or getter.
    const reason = error instanceof Error ? error.message : String(error);
    if (/circular/i.test(reason))
      return { ok: false, problem: `payload contains a circular reference (${firstLine(reason)})` };
    return { ok: false, problem: `payload cannot be serialised to JSON: ${firstLine(reason)}` };
  }
  if (json === undefined) return { ok: false, problem: 'payload serialises to nothing' };
  return { ok: true, json };
}

function firstLine(text: string): string {
  const line = text.split('\n')[0] ?? text;
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}
