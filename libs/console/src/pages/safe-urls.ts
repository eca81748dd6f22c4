/**
 * A list URL to return to after a detail page: a path of this console's list (with its query), never another
 * page, another site or something to run. Anything else gives null, and the page links the plain list.
 */
export function safeListUrl(base: string, list: string, value: unknown): string | null {
  if (typeof value !== 'string' || value.length > 2000) return null;
  const path = `${base}/${list}`;
  if (value !== path && !value.startsWith(`${path}?`)) return null;
  if (value.includes('//') || value.includes('\\') || [...value].some((char) => char < ' ' || char === '\x7f')) {
    return null;
  }
  return value;
}

/** Where to go after logging in: only a path under the console, never another site. */
export function safeNext(base: string, next: unknown): string {
  if (typeof next !== 'string' || next.length > 2000) return base;
  if (next !== base && !next.startsWith(`${base}/`) && !next.startsWith(`${base}?`)) return base;
  if (next.includes('//') || next.includes('\\') || next.startsWith(`${base}/login`)) return base;
  return next;
}
