import type { EngineOptions } from '../engine.types';
import { InvalidArgumentError } from '../errors';

export interface ResolvedTransactionOptions {
  transactionTimeoutMs: number;
  checkIntervalMs: number;
  transactionCheckMax: number;
}

export const DEFAULT_TRANSACTION_TIMEOUT_MS = 6_000;
export const DEFAULT_CHECK_INTERVAL_MS = 30_000;
export const DEFAULT_TRANSACTION_CHECK_MAX = 15;

function positive(name: string, value: unknown, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new InvalidArgumentError(`${name} must be an integer from 1 to ${max}; got ${JSON.stringify(value)}.`);
  }
  return value;
}

/** Checkback timing; rejects bad values with a sentence that says what to change. */
export function resolveTransactionOptions(options: EngineOptions): ResolvedTransactionOptions {
  const day = 24 * 3_600_000;
  return {
    transactionTimeoutMs: positive(
      'transactionTimeoutMs',
      options.transactionTimeoutMs,
      DEFAULT_TRANSACTION_TIMEOUT_MS,
      day,
    ),
    checkIntervalMs: positive('checkIntervalMs', options.checkIntervalMs, DEFAULT_CHECK_INTERVAL_MS, day),
    transactionCheckMax: positive(
      'transactionCheckMax',
      options.transactionCheckMax,
      DEFAULT_TRANSACTION_CHECK_MAX,
      1000,
    ),
  };
}
