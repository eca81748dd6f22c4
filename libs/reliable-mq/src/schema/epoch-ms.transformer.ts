import type { ValueTransformer } from 'typeorm';

/**
 * For `bigint` columns holding epoch milliseconds (and sequence numbers). PostgreSQL returns BIGINT as a string (it
 * can exceed 2^53), and mysql2 does the same under TypeORM's default `bigNumberStrings`; SQLite returns numbers.
 * Epoch milliseconds stay far below 2^53, so reading them as numbers is exact. NULL stays NULL.
 */
export const epochMsTransformer: ValueTransformer = {
  to: (value: unknown) => value,
  from: (value: unknown) => (value === null || value === undefined ? value : Number(value)),
};
