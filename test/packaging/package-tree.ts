import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { runCommand } from './run-command';

export interface TreeSize {
  packages: number;
  bytes: number;
}

/**
 * The folders of the packages installed in `appDir`, read from `npm ls --all --parseable` (the app itself left
 * out). With `omitDev`, only what a production install (`npm install --omit=dev`) would hold.
 */
export async function installedPackageDirs(appDir: string, omitDev: boolean): Promise<string[]> {
  const args = ['ls', '--all', '--parseable', ...(omitDev ? ['--omit=dev'] : [])];
  // npm ls exits 1 on problems such as an unmet optional peer; the list it prints is still the installed tree.
  const result = await runCommand('npm', args, { cwd: appDir, timeoutMs: 60_000 });
  if (result.stdout.trim() === '') throw new Error(`npm ls printed nothing in ${appDir}:\n${result.output}`);
  const dirs = result.stdout
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && line !== appDir);
  return [...new Set(dirs)];
}

/** Bytes on disk under `dir`, not counting its nested node_modules (those are packages of their own). */
function bytesOf(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') total += bytesOf(path);
    } else {
      total += lstatSync(path).size;
    }
  }
  return total;
}

export function sizeOf(packageDirs: readonly string[]): TreeSize {
  return { packages: packageDirs.length, bytes: packageDirs.reduce((sum, dir) => sum + bytesOf(dir), 0) };
}

/** Where Node would find `name` when required from `fromDir`: the nearest node_modules up the tree. */
function resolvePackageDir(name: string, fromDir: string): string | undefined {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * The folders of `name` and of everything its `dependencies` pull in, transitively: what installing that package
 * adds to an app that already has its peers. Optional dependencies count when installed.
 */
export function dependencyClosure(appDir: string, name: string): string[] {
  const start = resolvePackageDir(name, appDir);
  if (start === undefined) throw new Error(`${name} is not installed in ${appDir}.`);
  const seen = new Set<string>();
  const visit = (dir: string): void => {
    if (seen.has(dir)) return;
    seen.add(dir);
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      optionalDependencies?: Record<string, string>;
    };
    for (const dependency of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies })) {
      const found = resolvePackageDir(dependency, dir);
      if (found !== undefined) visit(found);
    }
  };
  visit(start);
  return [...seen];
}

/** Packages in `dirs` by their path below node_modules, e.g. `@reliable-mq/engine` or `a/node_modules/b`. */
export function packageNames(appDir: string, dirs: readonly string[]): string[] {
  return dirs.map((dir) => relative(join(appDir, 'node_modules'), dir)).sort();
}

export function formatSize(size: TreeSize): string {
  const megabytes = size.bytes / (1024 * 1024);
  return `${size.packages} packages, ${megabytes < 10 ? megabytes.toFixed(2) : megabytes.toFixed(1)} MiB`;
}
