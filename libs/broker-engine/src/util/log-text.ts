/**
 * Control characters, and the Unicode ones that break or reorder a line (line and paragraph separators,
 * bidirectional overrides). Whatever comes from a message, a request or a peer may hold them.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
// eslint-disable-next-line no-control-regex
const UNSAFE_ALL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` safe to write as (part of) one log line: line breaks, terminal escape sequences and other control characters
 * are written as visible escapes (`\n`, `\x1b`, `\u2028`), so a value cannot start a forged log line or recolour,
 * clear or rewrite the terminal. Text without them, nearly all of it, is returned as it is after one regular
 * expression test.
 */
export function escapeLogText(text: string): string {
  if (!UNSAFE.test(text)) return text;
  return text.replace(UNSAFE_ALL, (char) => {
    const named = NAMED[char];
    if (named) return named;
    const code = char.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}
