import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../../..');
const UI = join(ROOT, 'libs/console/ui');
const DIST = join(UI, 'dist');
const MANIFEST = join(DIST, '.vite', 'manifest.json');
const LOCK = join(UI, '.build-lock');
/** A lock older than this was left by a run that died; a build takes a few seconds. */
const STALE_LOCK_MS = 120_000;

/**
 * `npm install` builds the console's front end (the `prepare` script). A checkout where that did not happen (for
 * example `npm install --ignore-scripts`) gets it built once here, before any console starts. Runs in parallel
 * checkouts' test runs are expected: the build goes to a private directory that is renamed into place, and a lock
 * directory keeps two builds from racing.
 */
export default async function setup(): Promise<void> {
  if (existsSync(MANIFEST)) return;
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      if (existsSync(MANIFEST)) return;
      if (existsSync(LOCK) && Date.now() - statSync(LOCK).mtimeMs > STALE_LOCK_MS) {
        rmSync(LOCK, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`Timed out waiting for another build of ${UI} (lock ${LOCK}).`);
      await new Promise((done) => setTimeout(done, 250));
    }
  }
  try {
    if (existsSync(MANIFEST)) return;
    const out = join(UI, `.dist-${process.pid}`);
    const vite = join(ROOT, 'node_modules/vite/bin/vite.js');
    const result = spawnSync(
      process.execPath,
      [vite, 'build', '--config', join(UI, 'vite.config.mts'), '--outDir', out, '--emptyOutDir'],
      { cwd: ROOT, encoding: 'utf8', timeout: 170_000 },
    );
    if (result.status !== 0) {
      rmSync(out, { recursive: true, force: true });
      throw new Error(
        `Building the console's front end failed (npm run build:console-ui):\n${result.stdout}\n${result.stderr}`,
      );
    }
    rmSync(DIST, { recursive: true, force: true });
    renameSync(out, DIST);
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}
