import { inspect, isDeepStrictEqual } from 'node:util';

/*
 * The checks the contract suites make. Plain functions that throw, rather than a runner's `expect`, so that the suites
 * run unchanged under Jest, Vitest or any runner that treats a thrown error as a failure.
 */

/** A rule of a contract that the implementation under test broke. */
export class ContractViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ContractViolation';
  }
}

export function expectThat(condition: boolean, message: string): void {
  if (!condition) throw new ContractViolation(message);
}

/** Deep, strict equality (as node:assert's deepStrictEqual); the message says what was compared and both values. */
export function expectEqual(actual: unknown, expected: unknown, what: string): void {
  if (!isDeepStrictEqual(actual, expected)) {
    throw new ContractViolation(`${what}: expected ${show(expected)}, got ${show(actual)}`);
  }
}

/**
 * Resolves the reason `promise` rejected with once `accepts` holds of it; throws when it resolves instead, or rejects
 * with something `accepts` refuses.
 */
export async function expectRejection(
  promise: Promise<unknown>,
  what: string,
  accepts: (reason: unknown) => boolean = () => true,
): Promise<unknown> {
  let value: unknown;
  try {
    value = await promise;
  } catch (reason) {
    if (!accepts(reason)) throw new ContractViolation(`${what}: rejected with an unexpected ${show(reason)}`);
    return reason;
  }
  throw new ContractViolation(`${what}: expected a rejection, but it resolved ${show(value)}`);
}

function show(value: unknown): string {
  return inspect(value, { depth: 3, breakLength: Infinity });
}
