import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as path from 'node:path';

/** Repository root; every path handed to a child is resolved against it. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** The tsconfig whose `paths` give children the `@reliable-mq/*` aliases. */
export const ROOT_TSCONFIG = path.join(REPO_ROOT, 'tsconfig.json');

/**
 * Node flags that run a TypeScript entry file. The CommonJS require hook is used on purpose: the project compiles
 * to CommonJS, and the ESM loader (`--import @swc-node/register/esm-register`) cannot see the named exports of
 * aliased CommonJS modules.
 */
export const TS_NODE_ARGS: readonly string[] = ['-r', require.resolve('@swc-node/register')];

/**
 * Starts `node` on a TypeScript file with decorators and the tsconfig path aliases available, as a real process
 * that crash tests may SIGKILL. `file` is resolved against the repository root when relative. The child runs in the
 * repository root unless `opts.cwd` says otherwise, and inherits this process's environment plus `opts.env`.
 */
export function spawnTs(file: string, args: readonly string[] = [], opts: SpawnOptions = {}): ChildProcess {
  const entry = path.resolve(REPO_ROOT, file);
  return spawn(process.execPath, [...TS_NODE_ARGS, entry, ...args], {
    cwd: REPO_ROOT,
    stdio: 'pipe',
    ...opts,
    env: {
      ...process.env,
      ...opts.env,
      SWC_NODE_PROJECT: ROOT_TSCONFIG,
      TS_NODE_PROJECT: ROOT_TSCONFIG,
    },
  });
}
