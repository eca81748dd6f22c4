import { describe, expect, it } from 'vitest';
import { optionChecks } from './option-checks';

class Refused extends Error {}
const checks = optionChecks((problem) => {
  throw new Refused(problem);
}, 'relay.');

describe('optionChecks', () => {
  it('returns the fallback for an unset option and the value for a good one', () => {
    expect(checks.integer('batchSize', undefined, 100, 1, 1000)).toBe(100);
    expect(checks.integer('batchSize', 1000, 100, 1, 1000)).toBe(1000);
    expect(checks.duration('leaseMs', undefined, 30_000, 100)).toBe(30_000);
    expect(checks.duration('leaseMs', '2s', 30_000, 100)).toBe(2_000);
    expect(checks.duration('leaseMs', 100, 30_000, 100)).toBe(100);
  });

  it.each([
    [1001, 'relay.batchSize must be an integer from 1 to 1000; got 1001.'],
    [0, 'relay.batchSize must be an integer from 1 to 1000; got 0.'],
    [1.5, 'relay.batchSize must be an integer from 1 to 1000; got 1.5.'],
    ['10', 'relay.batchSize must be an integer from 1 to 1000; got "10".'],
  ])('refuses the integer %j through the caller’s error, naming the option and its range', (value, message) => {
    expect(() => checks.integer('batchSize', value, 100, 1, 1000)).toThrow(new Refused(message));
  });

  it('refuses a duration below its minimum, or one it cannot read, naming the option', () => {
    expect(() => checks.duration('leaseMs', '50ms', 30_000, 100)).toThrow(
      new Refused('relay.leaseMs must be at least 100 ms; got 50 ms.'),
    );
    expect(() => checks.duration('leaseMs', 'soon', 30_000, 100)).toThrow(Refused);
    expect(() => checks.duration('leaseMs', 'soon', 30_000, 100)).toThrow(/relay\.leaseMs must be milliseconds/);
  });
});
