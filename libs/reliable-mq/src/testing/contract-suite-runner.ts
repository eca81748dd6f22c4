import { ConfigurationError } from '../errors/configuration.error';

/**
 * The two functions of a test runner that a contract suite registers its cases with. Jest's and Vitest's `describe`
 * and `it` fit, as do those of any runner whose `it` takes a timeout in milliseconds as its third argument.
 */
export interface ContractTestRunner {
  describe(name: string, body: () => void): void;
  it(name: string, test: () => Promise<void>, timeoutMs?: number): void;
}

/**
 * How a contract suite is registered. `describe` and `it` default to the runner's globals (Jest's, or Vitest's with
 * `globals: true`); pass them when the runner has none, e.g. `{ describe, it }` imported from `vitest`.
 */
export interface ContractSuiteOptions extends Partial<ContractTestRunner> {
  /** Bound on one case, its setup and cleanup included. Default 60 s: a case waits up to 15 s for a broker. */
  timeoutMs?: number;
}

export const DEFAULT_CONTRACT_CASE_TIMEOUT_MS = 60_000;

/**
 * Registers one test per case inside one `describe`. `suite` is the exported function's name, for the error that
 * says how to pass the runner's functions.
 */
export function registerContractSuite<Case extends { readonly name: string }>(
  suite: string,
  title: string,
  cases: readonly Case[],
  runCase: (contractCase: Case) => Promise<void>,
  options: ContractSuiteOptions,
): void {
  const { describe, it } = testRunnerFor(suite, options);
  const timeoutMs = options.timeoutMs ?? DEFAULT_CONTRACT_CASE_TIMEOUT_MS;
  describe(title, () => {
    for (const contractCase of cases) it(contractCase.name, () => runCase(contractCase), timeoutMs);
  });
}

function testRunnerFor(suite: string, options: ContractSuiteOptions): ContractTestRunner {
  // Read when the suite is registered, not when this module loads: a runner may install its globals late.
  const globals = globalThis as { describe?: unknown; it?: unknown };
  const describe = options.describe ?? globals.describe;
  const it = options.it ?? globals.it;
  if (typeof describe !== 'function' || typeof it !== 'function') {
    throw new ConfigurationError(
      `${suite}() registers its cases with the test runner's describe() and it(), and there are no such globals ` +
        `here. Pass them: import { describe, it } from 'vitest' (or '@jest/globals'), then ` +
        `${suite}(name, factory, { describe, it }); or turn on the runner's globals (Vitest: test.globals = true).`,
    );
  }
  return {
    describe: describe as ContractTestRunner['describe'],
    it: it as ContractTestRunner['it'],
  };
}
