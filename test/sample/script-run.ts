import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { ChildEnd, ChildSupervisor } from '../../apps/sample/child-supervisor';
import { REPO_ROOT } from '../support/spawn-ts';
import { request } from './sample-harness';

/** A repository script run as `npm start` / `npm run …` would run it, with what it printed so far. */
export interface ScriptRun {
  child: ChildProcess;
  /** Standard output. */
  output(): string;
  /** Standard error. */
  errors(): string;
  /** Both, in the order they arrived. */
  all(): string;
  exited: Promise<ChildEnd>;
}

/**
 * `node scripts/<script>`, started by `supervisor` (the spec's own, which its cleanup stops): the same supervisor
 * `npm start` uses for its parts.
 */
export function runScript(
  script: string,
  env: Record<string, string>,
  supervisor: ChildSupervisor,
  cwd = REPO_ROOT,
): ScriptRun {
  const run = supervisor.start({
    name: script,
    entry: join(REPO_ROOT, 'scripts', script),
    env: { ...env, FORCE_COLOR: '0', NO_COLOR: '1' },
    cwd,
    collect: true,
  });
  return {
    child: run.process,
    output: () => run.stdout(),
    errors: () => run.stderr(),
    all: () => run.all(),
    exited: run.exited,
  };
}

/**
 * Waits until `pattern` is printed on standard output (or on either stream with `stream: 'both'`) and answers the
 * match; throws, with everything printed, when the script exits first or `timeoutMs` passes.
 */
export async function waitForOutput(
  run: ScriptRun,
  pattern: string | RegExp,
  timeoutMs = 60_000,
  stream: 'stdout' | 'both' = 'stdout',
): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  const printed = (): string => `${run.output()}\n${run.errors()}`;
  for (;;) {
    const text = stream === 'both' ? run.all() : run.output();
    const match =
      typeof pattern === 'string'
        ? text.includes(pattern)
          ? Object.assign([pattern], { index: text.indexOf(pattern), input: text })
          : null
        : pattern.exec(text);
    if (match) return match as RegExpExecArray;
    const shown = typeof pattern === 'string' ? `"${pattern}"` : String(pattern);
    if (run.child.exitCode !== null)
      throw new Error(`Exited with ${run.child.exitCode} before printing ${shown}:\n${printed()}`);
    if (Date.now() > deadline) throw new Error(`${shown} not printed within ${timeoutMs} ms:\n${printed()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Polls the order service until the order has `status`, for at most 30 s. */
export async function waitForStatus(orderUrl: string, id: string, status: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while ((await request<{ status: string }>('GET', `${orderUrl}/orders/${id}`)).body.status !== status) {
    expect(Date.now(), `order ${id} never became ${status}`).toBeLessThan(deadline);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
