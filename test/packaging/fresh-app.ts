import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runChecked } from './run-command';
import type { PackedWorkspace } from './workspace-packages';

export const FIXTURES = join(__dirname, 'fixtures');

/**
 * Writes a fresh Nest app into `dir`: the sources every app shares (fixtures/shared), then the files of one
 * combination (its package.json, tsconfig, app module and test). In package.json, `{{tarball:<package name>}}`
 * becomes the path of that package's tarball.
 */
export function writeFreshApp(fixture: string, dir: string, packed: readonly PackedWorkspace[]): void {
  mkdirSync(dir, { recursive: true });
  cpSync(join(FIXTURES, 'shared'), dir, { recursive: true });
  cpSync(join(FIXTURES, fixture), dir, { recursive: true });
  const manifestPath = join(dir, 'package.json');
  const manifest = readFileSync(manifestPath, 'utf8').replace(/\{\{tarball:([^}]+)\}\}/g, (_match, name: string) => {
    const pack = packed.find((candidate) => candidate.name === name);
    if (pack === undefined) throw new Error(`${fixture}/package.json names ${name}, which no workspace packs.`);
    return pack.tarball;
  });
  writeFileSync(manifestPath, manifest);
}

/**
 * `npm install` as a user runs it, against the registry and the tarballs. `--strict-allow-scripts` turns an install
 * script that the app's `allowScripts` does not cover into an error, so a new dependency with a script cannot run
 * it unnoticed.
 */
export async function installFreshApp(dir: string): Promise<number> {
  const result = await runChecked('npm', ['install', '--no-audit', '--no-fund', '--strict-allow-scripts'], {
    cwd: dir,
    // better-sqlite3 compiles from source here, a few minutes on two cores.
    timeoutMs: 14 * 60_000,
  });
  return result.durationMs;
}
