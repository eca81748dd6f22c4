import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as path from 'node:path';
import {
  REPOSITORY_ROOT as REPO_ROOT,
  REPOSITORY_TSCONFIG as ROOT_TSCONFIG,
  TYPESCRIPT_NODE_ARGS as TS_NODE_ARGS,
} from '../../apps/sample/child-supervisor';

// The same root, tsconfig and SWC flags as the sample's ChildSupervisor, under the names the specs use.
export { REPO_ROOT, ROOT_TSCONFIG, TS_NODE_ARGS };

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
