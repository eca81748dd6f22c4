import type { ValueTransformer } from 'typeorm';

/**
 * Epoch-ms columns are `bigint` on PostgreSQL, which the driver returns as a string (a bigint may exceed 2^53).
 * Milliseconds since 1970 stay far below that, so a number is exact. SQLite returns numbers already.
 */
export const epochMs: ValueTransformer = {
  to: (value: unknown) => value,
  from: (value: unknown) => (value === null || value === undefined ? value : Number(value)),
};
