import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

/** The workspaces `npm run build` compiles into `dist`, relative to the repository root. */
export const PACKAGE_DIRS: readonly string[] = [
  'libs/protocol',
  'libs/broker-engine',
  'libs/reliable-mq',
  'libs/console',
  'apps/broker',
];

const LOCK = path.join(REPO_ROOT, '.tmp', 'packages-build-lock');
/** A lock older than this was left by a run that died; the build takes about 10 s. */
const STALE_LOCK_MS = 180_000;

function newestMtime(target: string, skip: (name: string) => boolean): number {
  if (!existsSync(target)) return 0;
  const stat = statSync(target);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = 0;
  for (const entry of readdirSync(target)) {
    if (skip(entry)) continue;
    newest = Math.max(newest, newestMtime(path.join(target, entry), skip));
  }
  return newest;
}

function oldestMtime(target: string): number {
  const stat = statSync(target);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let oldest = Infinity;
  for (const entry of readdirSync(target)) oldest = Math.min(oldest, oldestMtime(path.join(target, entry)));
  return oldest;
}

/** Why a package's `dist` does not reflect its sources, or undefined when it does. */
export function staleReason(dir: string): string | undefined {
  const root = path.join(REPO_ROOT, dir);
  const dist = path.join(root, 'dist');
  if (!existsSync(dist) || readdirSync(dist).length === 0) return `${dir}/dist is missing`;
  const inputs = Math.max(
    newestMtime(path.join(root, 'src'), (name) => name.endsWith('.spec.ts')),
    newestMtime(path.join(root, 'package.json'), () => false),
    newestMtime(path.join(root, 'tsconfig.build.json'), () => false),
  );
  return inputs > oldestMtime(dist) ? `${dir}/src changed after ${dir}/dist was built` : undefined;
}

/**
 * Builds the packages (`npm run build`) when a `dist` is missing or older than its sources, so that a test can use
 * them as installed packages. A lock directory keeps two test files, or two runs, from building at once.
 */
export async function ensurePackagesBuilt(): Promise<void> {
  const stale = (): string[] => PACKAGE_DIRS.map(staleReason).filter((reason): reason is string => !!reason);
  if (stale().length === 0) return;
  mkdirSync(path.dirname(LOCK), { recursive: true });
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      if (existsSync(LOCK) && Date.now() - statSync(LOCK).mtimeMs > STALE_LOCK_MS) {
        rmSync(LOCK, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`Timed out waiting for another build of the packages (${LOCK}).`);
      await new Promise((done) => setTimeout(done, 250));
    }
  }
  try {
    const reasons = stale();
    if (reasons.length === 0) return;
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const result = spawnSync(npm, ['run', 'build'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 240_000 });
    if (result.status !== 0) {
      throw new Error(
        `npm run build failed (${reasons.join('; ')}):\n${result.stdout ?? ''}\n${result.stderr ?? ''}`.trim(),
      );
    }
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

function sourceFiles(dir: string, relative = ''): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const rel = relative ? `${relative}/${entry.name}` : entry.name;
    if (entry.isDirectory()) return sourceFiles(path.join(dir, entry.name), rel);
    return /(?<!\.d)\.ts$/.test(entry.name) && !/\.(e2e-)?spec\.ts$/.test(entry.name) ? [rel] : [];
  });
}

/**
 * The declaration files a complete build of the package in `packageDir` has and `distDir` lacks: a `dist` copied
 * while a build was deleting or writing it misses some.
 */
export function missingDeclarations(packageDir: string, distDir: string): string[] {
  return sourceFiles(path.join(packageDir, 'src'))
    .map((file) => file.replace(/\.ts$/, '.d.ts'))
    .filter((file) => !existsSync(path.join(distDir, file)))
    .map((file) => path.join(distDir, file));
}
