import { ConflictException } from '@nestjs/common';
import type { DeadLetterSummary } from './dead-letter.view';

/**
 * The code of the 409 that asks an operator to confirm resending messages older than their group's dedup window.
 * Their dedup records may be gone, so the handler may run again for work it already did; the console resends them
 * only when the request says it knows (`confirmDedupWindow: true`). The front end recognises the code and asks.
 */
export const DEDUP_CONFIRMATION_CODE = 'DEDUP_WINDOW_CONFIRMATION_REQUIRED';

/** The 409 refusing to resend `count` dead letters past the dedup window, with up to ten of them as examples. */
export function dedupConfirmationNeeded(count: number, examples: DeadLetterSummary[]): ConflictException {
  const first = examples[0]!;
  return new ConflictException({
    statusCode: 409,
    error: 'Conflict',
    code: DEDUP_CONFIRMATION_CODE,
    count,
    message:
      `${count === 1 ? 'This message is' : `${count} messages are`} older than the dedup window of ` +
      `${first.group} (${formatDuration(first.dedupWindowMs ?? 0)}): its dedup record may be gone, so the handler will run ` +
      'again even if it already did its work once. Send confirmDedupWindow: true to retry anyway.',
    examples: examples
      .slice(0, 10)
      .map((entry) => ({ id: entry.id, group: entry.group, ageMs: entry.ageMs, dedupWindowMs: entry.dedupWindowMs })),
  });
}

/** A duration as the dedup window is configured (`5m`, `1.5h`), for the messages that name it. */
export function formatDuration(ms: number): string {
  const units: Array<[string, number]> = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  for (const [unit, size] of units) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  for (const [unit, size] of units) if (ms >= size) return `${(ms / size).toFixed(1)}${unit}`;
  return `${ms}ms`;
}
