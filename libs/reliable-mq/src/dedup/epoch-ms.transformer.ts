import type { ValueTransformer } from 'typeorm';

/**
 * `bigint` columns holding epoch milliseconds. The pg driver returns bigint as a string (it may exceed 2^53);
 * epoch milliseconds do not, so reading them as numbers is exact.
 */
export const epochMsTransformer: ValueTransformer = {
  to: (value: number | null | undefined): number | null | undefined => value,
  from: (value: string | number | null): number | null => (value === null ? null : Number(value)),
};
