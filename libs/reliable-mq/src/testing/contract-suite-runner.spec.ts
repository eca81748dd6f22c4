import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigurationError } from '../errors/configuration.error';
import { MemoryDedupStore } from '../dedup/memory-dedup.store';
import { ContractViolation, expectEqual, expectRejection } from './contract-assertions';
import { DEFAULT_CONTRACT_CASE_TIMEOUT_MS, type ContractTestRunner } from './contract-suite-runner';
import { dedupContractCases, dedupStoreContract } from './dedup-store.contract';
import { transportContract, transportContractCases, type TransportFixture } from './transport.contract';

interface Registered {
  suites: string[];
  tests: Array<{ name: string; run: () => Promise<void>; timeoutMs?: number }>;
}

/** Records what a suite registers instead of running it, as a runner collecting tests would. */
function recordingRunner(): ContractTestRunner & Registered {
  const recorded: Registered = { suites: [], tests: [] };
  return {
    ...recorded,
    describe: (name, body) => {
      recorded.suites.push(name);
      body();
    },
    it: (name, run, timeoutMs) => void recorded.tests.push({ name, run, timeoutMs }),
  };
}

const globals = globalThis as { describe?: unknown; it?: unknown };

describe('contract suites without a test runner import', () => {
  afterEach(() => {
    delete globals.describe;
    delete globals.it;
  });

  it('refuse to register without describe/it, saying how to pass them', () => {
    // This project runs Vitest with globals off, as a user's Vitest may.
    expect(globals.describe).toBeUndefined();
    const attempt = (): void => transportContract('mine', async () => ({}) as TransportFixture);
    expect(attempt).toThrow(ConfigurationError);
    expect(attempt).toThrow(
      /import \{ describe, it \} from 'vitest'.*transportContract\(name, factory, \{ describe, it \}\)/,
    );
    expect(() => dedupStoreContract('mine', async () => ({ store: new MemoryDedupStore() }))).toThrow(
      /dedupStoreContract\(\)/,
    );
  });

  it('register one describe and one test per case with the functions passed, bounded by a timeout', async () => {
    const runner = recordingRunner();
    const closed: string[] = [];
    dedupStoreContract(
      'memory',
      async () => ({ store: new MemoryDedupStore(), cleanup: async () => void closed.push('cleanup') }),
      runner,
    );
    expect(runner.suites).toEqual(['memory']);
    expect(runner.tests.map((test) => test.name)).toEqual(dedupContractCases.map((c) => c.name));
    expect(new Set(runner.tests.map((test) => test.timeoutMs))).toEqual(new Set([DEFAULT_CONTRACT_CASE_TIMEOUT_MS]));
    for (const test of runner.tests) await test.run();
    expect(closed).toHaveLength(dedupContractCases.length);
  });

  it("use the runner's globals when it has them, as Jest does", () => {
    const runner = recordingRunner();
    globals.describe = runner.describe;
    globals.it = runner.it;
    transportContract('globals', async () => ({}) as TransportFixture, { timeoutMs: 5_000 });
    expect(runner.suites).toEqual(['Transport contract: globals']);
    expect(runner.tests).toHaveLength(transportContractCases.length);
    expect(runner.tests.every((test) => test.timeoutMs === 5_000)).toBe(true);
  });

  it('fail a case with a ContractViolation that shows both values', async () => {
    expect(() => expectEqual({ processed: 2 }, { processed: 1 }, 'counters')).toThrow(
      new ContractViolation('counters: expected { processed: 1 }, got { processed: 2 }'),
    );
    await expect(expectRejection(Promise.resolve('processed'), 'a failing work')).rejects.toThrow(
      "a failing work: expected a rejection, but it resolved 'processed'",
    );
  });
});

describe('the testing entry point', () => {
  it('imports no test runner anywhere in what it loads, so that it loads under Jest, Vitest or plain Node', () => {
    const entry = resolve(__dirname, 'index.ts');
    const seen = new Set<string>();
    const runnerImports: string[] = [];
    const pending = [entry];
    while (pending.length > 0) {
      const file = pending.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      const source = readFileSync(file, 'utf8');
      // Value imports and re-exports; `import type` leaves nothing behind at run time.
      for (const [, specifier] of source.matchAll(/^(?:import|export)(?!\s+type\b)[^;]*?from\s+'([^']+)'/gms)) {
        if (/^(vitest|jest|@jest\/|@vitest\/)/.test(specifier!)) runnerImports.push(`${file}: ${specifier}`);
        if (specifier!.startsWith('.')) pending.push(sourceFile(join(dirname(file), specifier!)));
      }
    }
    expect(seen.size).toBeGreaterThan(20);
    expect(runnerImports).toEqual([]);
  });
});

function sourceFile(base: string): string {
  for (const candidate of [`${base}.ts`, join(base, 'index.ts')]) {
    try {
      readFileSync(candidate);
      return candidate;
    } catch {
      // not this one
    }
  }
  throw new Error(`Cannot find the source of ${base}`);
}
