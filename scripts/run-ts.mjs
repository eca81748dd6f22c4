// Runs a TypeScript entry of this repository in this process: SWC compiles each file as Node loads it, with the
// decorator metadata Nest needs and the @reliable-mq/* path aliases of tsconfig.json. No build step, nothing
// written to disk, nothing stale to rebuild. The tests start their children the same way (test/support/spawn-ts.ts).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export function runTs(entry) {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 19)) {
    console.error(`ReliableMQ needs Node 20.19 or later; this is Node ${process.versions.node}.`);
    process.exit(1);
  }
  const require = createRequire(join(ROOT, 'package.json'));
  try {
    require.resolve('@swc-node/register');
    require.resolve('better-sqlite3');
  } catch {
    console.error('Dependencies are missing: run `npm install` first.');
    process.exit(1);
  }
  // Read when the hook registers: the tsconfig that holds the path aliases and decorator settings.
  process.env.SWC_NODE_PROJECT = join(ROOT, 'tsconfig.json');
  process.env.TS_NODE_PROJECT = process.env.SWC_NODE_PROJECT;
  require('@swc-node/register');
  const file = join(ROOT, entry);
  if (!existsSync(file)) {
    console.error(`${entry} is missing from this checkout.`);
    process.exit(1);
  }
  require(file);
}
