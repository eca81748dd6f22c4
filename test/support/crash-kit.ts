import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrokerEngine, type EngineOptions } from '@reliable-mq/engine';

/**
 * What the crash specs share besides their child processes (see child-lines.ts) and their kill schedules (see
 * seeded-random.ts): how many kills a run makes, where its data lives, and how the parent looks at a broker's data
 * directory while no child runs.
 */

/**
 * The number of kills from the environment variable `name`, or the default for this machine: fewer under CI=true,
 * where the crash suites share the run's time budget with everything else.
 */
export function killCountFromEnv(name: string, defaults: { local: number; ci: number }): number {
  const raw = process.env[name];
  if (raw !== undefined && raw !== '') {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer; got ${raw}.`);
    return value;
  }
  return process.env.CI === 'true' ? defaults.ci : defaults.local;
}

/** A fresh directory under the system temp dir, named from `prefix`. */
export function createDataRoot(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Removes a data root, or keeps it for inspection and says where it is. */
export function releaseDataRoot(root: string, keep: boolean, what: string): void {
  if (keep) console.log(`${what} kept in ${root}`);
  else rmSync(root, { recursive: true, force: true });
}

/**
 * Opens the engine on a data directory no child is using, hands it to `use`, and closes it cleanly. An error the
 * engine reported in the background while open fails the inspection too.
 */
export async function inspectEngine<T>(
  options: Omit<EngineOptions, 'onError'>,
  use: (engine: BrokerEngine) => Promise<T>,
): Promise<T> {
  const errors: Error[] = [];
  const engine = BrokerEngine.open({ ...options, onError: (error) => errors.push(error) });
  let result: T;
  try {
    result = await use(engine);
  } finally {
    await engine.close(5_000);
  }
  if (errors.length > 0) throw errors[0];
  return result;
}

/**
 * Waits until `group` has read everything it subscribed to and holds nothing in flight. `what` names the step in the
 * error thrown after `limitMs`.
 */
export async function waitForGroupCaughtUp(
  engine: BrokerEngine,
  group: string,
  limitMs: number,
  what: string,
): Promise<void> {
  const stopAt = Date.now() + limitMs;
  for (;;) {
    const entries = engine.stats().groups.filter((entry) => entry.group === group);
    const lag = entries.reduce((sum, entry) => sum + entry.lag, 0);
    const inFlight = entries.reduce((sum, entry) => sum + entry.inFlight, 0);
    if (entries.length > 0 && lag === 0 && inFlight === 0) return;
    if (Date.now() > stopAt) throw new Error(`${what} within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
