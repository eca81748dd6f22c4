import type { EngineOptions } from '../engine.types';
import { InvalidArgumentError } from '../errors';

export interface ResolvedTransactionOptions {
  transactionTimeoutMs: number;
  checkIntervalMs: number;
  transactionCheckMax: number;
  /** Records of resolved half messages older than this (since resolution) are pruned; null keeps them. */
  halfMessageRetentionMs: number | null;
}

export const DEFAULT_TRANSACTION_TIMEOUT_MS = 6_000;
export const DEFAULT_CHECK_INTERVAL_MS = 30_000;
export const DEFAULT_TRANSACTION_CHECK_MAX = 15;
export const DEFAULT_HALF_MESSAGE_RETENTION_MS = 7 * 24 * 3_600_000;

function positive(name: string, value: unknown, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new InvalidArgumentError(`${name} must be an integer from 1 to ${max}; got ${JSON.stringify(value)}.`);
  }
  return value;
}

function retention(value: unknown): number | null {
  if (value === undefined) return DEFAULT_HALF_MESSAGE_RETENTION_MS;
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > Number.MAX_SAFE_INTEGER) {
    throw new InvalidArgumentError(
      `halfMessageRetentionMs must be an integer number of milliseconds from 1 to ${Number.MAX_SAFE_INTEGER}, or null to keep resolved half messages; got ${shown(value)}.`,
    );
  }
  return value;
}

function shown(value: unknown): string {
  return typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value));
}

/** Checkback timing and half-message retention; rejects bad values with a sentence that says what to change. */
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
    halfMessageRetentionMs: retention(options.halfMessageRetentionMs),
  };
}
