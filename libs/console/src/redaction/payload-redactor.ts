import { Inject, Injectable } from '@nestjs/common';
import { CONSOLE_OPTIONS } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';

/** A payload field to mask: its path (`*` for any key or array index) and how many last characters stay visible. */
export interface RedactionRule {
  path: string[];
  showLast: number;
}

/** What a shown payload has been through. */
export type Redaction =
  /** Nothing configured, or revealed by someone allowed to. */
  | 'none'
  /** JSON, with the configured fields masked (there may have been none in it). */
  | 'fields'
  /** Not JSON, so its fields cannot be found: hidden whole. */
  | 'hidden';

/** The text that replaces a masked value, with the last `showLast` characters of a long enough string. */
export function maskOf(value: unknown, showLast: number): string {
  if (typeof value === 'string' && showLast > 0 && value.length >= showLast + 4) {
    return `**** ${value.slice(-showLast)}`;
  }
  return '****';
}

/** Keys of audit details that hold a payload's text. */
const PAYLOAD_KEY = /^payload(Before|After)?$/;
/** A payload kept in an audit entry is cut to this length, after masking (so a cut can never expose a field). */
export const AUDIT_PAYLOAD_CHARS = 8 * 1024;

/**
 * Masks sensitive payload fields (`redact` in the options) wherever the console shows or keeps a payload: pages,
 * API answers, the audit log. The broker keeps the real value, and an edit-and-retry restores it into an edit that
 * still carries its mask, so retrying works on the real value without anyone seeing it.
 *
 * Paths are dot-separated field names from the payload's root; `*` stands for any field or array index, and a
 * named field reached through an array applies to each element (`items.card` masks `items[i].card`).
 */
@Injectable()
export class PayloadRedactor {
  readonly rules: readonly RedactionRule[];

  constructor(@Inject(CONSOLE_OPTIONS) options: ResolvedConsoleOptions) {
    this.rules = options.redact;
  }

  get active(): boolean {
    return this.rules.length > 0;
  }

  /** The configured paths, as written. */
  describe(): string[] {
    return this.rules.map((rule) => rule.path.join('.'));
  }

  /** A copy of `value` with every configured field masked. */
  mask(value: unknown): unknown {
    if (!this.active) return value;
    let copy = structuredClone(value);
    for (const rule of this.rules) copy = apply(copy, rule.path, 0, (found) => maskOf(found, rule.showLast));
    return copy;
  }

  /**
   * A payload's JSON text as it may be shown: parsed, masked and pretty-printed. Text that is not JSON cannot be
   * searched for fields, so while a redaction is configured it is not shown at all.
   */
  maskText(text: string): { text: string; json?: unknown; redaction: Redaction } {
    let json: unknown;
    try {
      json = JSON.parse(text) as unknown;
    } catch {
      if (!this.active) return { text, redaction: 'none' };
      return { text: hiddenText(Buffer.byteLength(text, 'utf8')), redaction: 'hidden' };
    }
    if (!this.active) return { text: JSON.stringify(json, null, 2), json, redaction: 'none' };
    const masked = this.mask(json);
    return { text: JSON.stringify(masked, null, 2), json: masked, redaction: 'fields' };
  }

  /**
   * An edited payload with the real value put back wherever the edit still holds the mask it was shown, so that
   * an operator who edits another field (or nothing) sends the real card, and one who typed a new card sends that.
   */
  restore(edited: unknown, original: unknown): unknown {
    if (!this.active) return edited;
    let result = structuredClone(edited);
    for (const rule of this.rules) {
      result = applyWithPath(result, rule.path, 0, [], (found, at) => {
        const real = valueAt(original, at);
        return real.found && typeof found === 'string' && found === maskOf(real.value, rule.showLast)
          ? structuredClone(real.value)
          : found;
      });
    }
    return result;
  }

  /** Audit details with every payload text in them masked and cut (see AUDIT_PAYLOAD_CHARS). */
  maskAuditDetails(details: Record<string, unknown>): Record<string, unknown> {
    return walkDetails(details, (text) => {
      const shown = this.active ? this.maskText(text).text : text;
      return shown.length > AUDIT_PAYLOAD_CHARS ? `${shown.slice(0, AUDIT_PAYLOAD_CHARS)}…` : shown;
    }) as Record<string, unknown>;
  }

  /**
   * Audit details as they are shown: payload texts masked again, for entries written before the redaction was
   * configured. A payload cut when it was written no longer parses, so it is hidden.
   */
  maskStoredAuditDetails(details: Record<string, unknown>): Record<string, unknown> {
    if (!this.active) return details;
    return walkDetails(details, (text) => this.maskText(text).text) as Record<string, unknown>;
  }
}

export function hiddenText(bytes: number): string {
  return `[${bytes} bytes, not JSON: hidden, because sensitive fields cannot be found in it]`;
}

function walkDetails(value: unknown, onPayload: (text: string) => string, key = ''): unknown {
  if (typeof value === 'string') return PAYLOAD_KEY.test(key) ? onPayload(value) : value;
  if (Array.isArray(value)) return value.map((item) => walkDetails(item, onPayload));
  if (value && typeof value === 'object') {
    const copy: Record<string, unknown> = {};
    for (const [name, inner] of Object.entries(value)) copy[name] = walkDetails(inner, onPayload, name);
    return copy;
  }
  return value;
}

function apply(value: unknown, path: readonly string[], index: number, replace: (found: unknown) => unknown): unknown {
  return applyWithPath(value, path, index, [], (found) => replace(found));
}

/** Replaces the values at `path` (from `index` on) inside `value`, in place; `at` is the concrete path reached. */
function applyWithPath(
  value: unknown,
  path: readonly string[],
  index: number,
  at: Array<string | number>,
  replace: (found: unknown, at: Array<string | number>) => unknown,
): unknown {
  if (index === path.length) return replace(value, at);
  if (Array.isArray(value)) {
    // A wildcard takes each element as the segment; a named field goes through the array to each element.
    const next = path[index] === '*' ? index + 1 : index;
    for (let position = 0; position < value.length; position++) {
      value[position] = applyWithPath(value[position], path, next, [...at, position], replace);
    }
    return value;
  }
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  const segment = path[index]!;
  const keys = segment === '*' ? Object.keys(record) : Object.hasOwn(record, segment) ? [segment] : [];
  for (const key of keys) record[key] = applyWithPath(record[key], path, index + 1, [...at, key], replace);
  return value;
}

function valueAt(value: unknown, at: ReadonlyArray<string | number>): { found: boolean; value?: unknown } {
  let current = value;
  for (const step of at) {
    if (current === null || typeof current !== 'object') return { found: false };
    if (!Object.hasOwn(current as object, step)) return { found: false };
    current = (current as Record<string | number, unknown>)[step];
  }
  return { found: true, value: current };
}

/** Parses the `redact` option: `'card'`, `'items.*.card'`, or `{ path, showLast }`; null when malformed. */
export function parseRedactionRule(entry: unknown): RedactionRule | null {
  const spec = typeof entry === 'string' ? { path: entry, showLast: 0 } : entry;
  if (!spec || typeof spec !== 'object') return null;
  const { path, showLast = 0 } = spec as { path?: unknown; showLast?: unknown };
  if (typeof path !== 'string' || !/^[^.\s]{1,128}(\.[^.\s]{1,128}){0,15}$/.test(path)) return null;
  if (typeof showLast !== 'number' || !Number.isInteger(showLast) || showLast < 0 || showLast > 8) return null;
  return { path: path.split('.'), showLast };
}
