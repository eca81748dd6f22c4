import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runChecked } from './run-command';

export const REPO_ROOT = resolve(__dirname, '../..');

/** The workspace folders the root package.json declares, in build order. */
export function workspaceFolders(): string[] {
  const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { workspaces?: string[] };
  return manifest.workspaces ?? [];
}

export interface PackedFile {
  path: string;
}

export interface PackResult {
  name: string;
  version: string;
  filename: string;
  files: PackedFile[];
}

export interface PackedWorkspace {
  name: string;
  version: string;
  /** Absolute path of the tarball. */
  tarball: string;
  files: string[];
}

/** `npm pack` of every workspace into `destination`. */
export async function packWorkspaces(destination: string): Promise<PackedWorkspace[]> {
  const result = await runChecked('npm', ['pack', '--workspaces', '--json', '--pack-destination', destination], {
    cwd: REPO_ROOT,
    timeoutMs: 2 * 60_000,
  });
  return (JSON.parse(result.stdout) as PackResult[]).map((pack) => ({
    name: pack.name,
    version: pack.version,
    tarball: join(destination, pack.filename),
    files: pack.files.map((file) => file.path),
  }));
}

export interface DryRunPublish {
  name: string;
  files: string[];
  /** npm's warnings, except that nobody is logged in (a dry run needs no login). */
  warnings: string[];
}

/** `npm publish --dry-run` of one workspace folder: what would be published, and what npm had to say about it. */
export async function dryRunPublish(folder: string): Promise<DryRunPublish> {
  const result = await runChecked('npm', ['publish', '--dry-run', '--json', '--workspace', folder], {
    cwd: REPO_ROOT,
    timeoutMs: 2 * 60_000,
  });
  const byName = JSON.parse(result.stdout) as Record<string, PackResult>;
  const [pack, ...others] = Object.values(byName);
  if (pack === undefined || others.length > 0) {
    throw new Error(`Expected one package from npm publish --dry-run of ${folder}, got: ${result.stdout}`);
  }
  const warnings = result.stderr
    .split('\n')
    .filter((line) => line.startsWith('npm warn'))
    .filter((line) => !/requires you to be logged in/.test(line));
  return { name: pack.name, files: pack.files.map((file) => file.path), warnings };
}

interface PublishedManifest {
  main?: string;
  types?: string;
  bin?: string | Record<string, string>;
  exports?: unknown;
}

/** Every file the manifest points at (main, types, bin, and each exports target), without a leading `./`. */
export function manifestTargets(folder: string): string[] {
  const manifest = JSON.parse(readFileSync(join(REPO_ROOT, folder, 'package.json'), 'utf8')) as PublishedManifest;
  const targets: string[] = [];
  const add = (value: unknown): void => {
    if (typeof value === 'string') targets.push(value.replace(/^\.\//, ''));
    else if (value !== null && typeof value === 'object') Object.values(value).forEach(add);
  };
  add(manifest.main);
  add(manifest.types);
  add(manifest.bin);
  add(manifest.exports);
  return [...new Set(targets)];
}

/** Why a published file list is not what a user should get; empty when it is clean. */
export function publishProblems(files: readonly string[], targets: readonly string[]): string[] {
  const problems: string[] = [];
  for (const required of ['package.json', 'README.md', 'LICENSE']) {
    if (!files.includes(required)) problems.push(`${required} is missing`);
  }
  for (const target of targets) {
    if (!files.includes(target)) problems.push(`${target}, named in package.json, is not in the package`);
  }
  for (const file of files) {
    if (/(^|\/)(src|test|tests|__tests__)\//.test(file)) problems.push(`${file} is source or test code`);
    else if (/\.(spec|test|e2e-spec)\.[cm]?[jt]s$/.test(file) || /\.(spec|test)\.d\.ts$/.test(file)) {
      problems.push(`${file} is a test`);
    } else if (/\.[cm]?ts$/.test(file) && !/\.d\.[cm]?ts$/.test(file)) problems.push(`${file} is TypeScript source`);
    else if (/\.tsbuildinfo$/.test(file)) problems.push(`${file} is a build cache`);
  }
  return problems;
}
