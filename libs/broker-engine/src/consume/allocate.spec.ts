import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocateEvenly } from './allocate';

describe('allocateEvenly', () => {
  it('cuts sorted queues into contiguous runs, one per sorted member, extras to the first members', () => {
    const result = allocateEvenly(['c', 'a', 'b'], [7, 6, 5, 4, 3, 2, 1, 0]);
    expect(Object.fromEntries(result)).toEqual({ a: [0, 1, 2], b: [3, 4, 5], c: [6, 7] });
  });

  it('gives every member the same answer whatever order it lists members and queues in', () => {
    const one = allocateEvenly(['m2', 'm1', 'm3'], [0, 1, 2, 3, 4]);
    const two = allocateEvenly(['m3', 'm1', 'm2'], [4, 3, 2, 1, 0]);
    expect(Object.fromEntries(one)).toEqual(Object.fromEntries(two));
  });

  it('leaves members beyond the queue count empty-handed and returns nothing to own with no members', () => {
    expect(Object.fromEntries(allocateEvenly(['a', 'b', 'c'], [0]))).toEqual({ a: [0], b: [], c: [] });
    expect(allocateEvenly([], [0, 1, 2]).size).toBe(0);
  });

  it('always assigns every queue to exactly one member, and sizes differ by at most one', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 0, max: 64 }),
        (members, queueCount) => {
          const queues = Array.from({ length: queueCount }, (_, index) => index);
          const result = allocateEvenly(members, queues);
          expect([...result.keys()].sort()).toEqual([...members].sort());
          const owned = [...result.values()].flat().sort((a, b) => a - b);
          expect(owned).toEqual(queues);
          const sizes = [...result.values()].map((list) => list.length);
          expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
        },
      ),
      { numRuns: 200 },
    );
  });
});
