/** Header names the engine writes on retry, DLQ and moved copies. User headers should not use the `x-rmq-` prefix. */
export const HEADER_ORIGIN_TOPIC = 'x-rmq-origin-topic';
export const HEADER_ORIGINAL_ID = 'x-rmq-original-id';
export const HEADER_RECONSUME_TIMES = 'x-rmq-reconsume-times';
export const HEADER_LAST_ERROR = 'x-rmq-last-error';
export const HEADER_RESENT_FROM = 'x-rmq-resent-from-dlq';

export const LAST_ERROR_LIMIT_BYTES = 1024;

/** Trims an error text to at most 1 KiB of UTF-8 without splitting a character. */
export function trimError(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= LAST_ERROR_LIMIT_BYTES) return text;
  let cut = bytes.subarray(0, LAST_ERROR_LIMIT_BYTES).toString('utf8');
  if (cut.endsWith('\uFFFD')) cut = cut.slice(0, -1);
  return cut;
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return trimError(`${error.name}: ${error.message}`);
  return trimError(String(error));
}

/** Handlers mark an error as final (straight to the DLQ) by setting `nonRetryable: true` on it. */
export function isNonRetryable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { nonRetryable?: unknown }).nonRetryable === true;
}

/** Handlers may ask for a specific delay before the retry by setting `retryDelayMs` on the error. */
export function requestedRetryDelay(error: unknown): number | undefined {
  const value =
    typeof error === 'object' && error !== null ? (error as { retryDelayMs?: unknown }).retryDelayMs : undefined;
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}
