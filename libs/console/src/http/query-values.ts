import type { TransformFnParams } from 'class-transformer';

/**
 * A time in a query: epoch milliseconds, or an ISO 8601 date/time (a `datetime-local` field's value is read as
 * the server's local time). Anything else becomes NaN, which the DTO's `@IsInt` refuses with a 400.
 */
export function toEpochMs({ value }: TransformFnParams): unknown {
  if (value === undefined || value === '') return undefined;
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return Number.NaN;
  if (/^\d{1,15}$/.test(value)) return Number(value);
  if (!/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) return Number.NaN;
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? Number.NaN : parsed;
}

/** An integer in a query string; not-a-number stays NaN so validation refuses it. */
export function toInteger({ value }: TransformFnParams): unknown {
  if (value === undefined || value === '') return undefined;
  if (typeof value === 'number') return value;
  if (typeof value !== 'string' || !/^-?\d{1,15}$/.test(value.trim())) return Number.NaN;
  return Number(value);
}

/** Empty query fields (as an HTML filter form sends them) mean "no filter". */
export function emptyToUndefined({ value }: TransformFnParams): unknown {
  return typeof value === 'string' && value.trim() === '' ? undefined : value;
}
