import type { TransactionOutcome } from '../engine.types';
import { describeError } from '../headers';

export const TRANSACTION_OUTCOMES: readonly TransactionOutcome[] = ['commit', 'rollback', 'unknown'];

export function isTransactionOutcome(value: unknown): value is TransactionOutcome {
  return TRANSACTION_OUTCOMES.includes(value as TransactionOutcome);
}

/** A checker's answer as a checkback counts it. */
export interface CheckerAnswer {
  outcome: TransactionOutcome;
  /** Why the outcome is unknown, for the reason recorded when the half message is discarded. */
  note: string;
  /**
   * Set when the checker failed or answered something other than an outcome: what went wrong, for a warning.
   * Both count as `unknown`, so the half message is checked again rather than decided on a guess.
   */
  problem?: string;
}

/**
 * The one reading of what a checker (local, or a client across the wire) answered: `commit` and `rollback` decide,
 * anything else is `unknown`.
 */
export function normaliseCheckerAnswer(answer: unknown): CheckerAnswer {
  if (answer === 'commit' || answer === 'rollback') return { outcome: answer, note: '' };
  if (answer === 'unknown') return { outcome: 'unknown', note: 'the checker answered unknown' };
  const shown = JSON.stringify(answer) ?? 'undefined';
  return {
    outcome: 'unknown',
    note: `the checker answered ${shown}`,
    problem: `answered ${shown}; expected "commit", "rollback" or "unknown"`,
  };
}

/** Asks a checker and reads its answer; never rejects: a failure is an `unknown` answer with its problem. */
export async function askChecker(ask: () => Promise<unknown>): Promise<CheckerAnswer> {
  try {
    return normaliseCheckerAnswer(await ask());
  } catch (error) {
    const described = describeError(error);
    return { outcome: 'unknown', note: `the checker failed: ${described}`, problem: `failed: ${described}` };
  }
}

/** The outcome only, for callers that pass it on (a broker connection, a client answering `tx.check`). */
export function transactionOutcomeOf(answer: unknown): TransactionOutcome {
  return normaliseCheckerAnswer(answer).outcome;
}
