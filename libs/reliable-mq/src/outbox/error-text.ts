/** Longest `last_error` kept on a row; matches the engine's limit for the same purpose. */
export const LAST_ERROR_LIMIT_BYTES = 1024;

/** `Name: message`, cut to LAST_ERROR_LIMIT_BYTES of UTF-8 without splitting a character. */
export function errorText(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= LAST_ERROR_LIMIT_BYTES) return text;
  // Decoding a cut multi-byte sequence yields U+FFFD at the end, which is dropped rather than stored.
  return bytes
    .subarray(0, LAST_ERROR_LIMIT_BYTES)
    .toString('utf8')
    .replace(/\uFFFD+$/, '');
}
