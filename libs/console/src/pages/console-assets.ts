import { Injectable } from '@nestjs/common';
import { ConfigurationError } from '@reliable-mq/nestjs';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';

export interface ConsoleAsset {
  type: string;
  body: Buffer;
  etag: string;
}

/** What a page links: file names under `<mount>/assets/`. */
export interface ConsoleBundle {
  scripts: string[];
  styles: string[];
}

/** The Vite manifest's key of the bundle's entry (`libs/console/ui/src/main.tsx`, relative to the Vite root). */
export const CONSOLE_UI_ENTRY = 'src/main.tsx';

export const BUILD_COMMAND = 'npm run build:console-ui';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.woff2': 'font/woff2',
  '.png': 'image/png',
};

interface ManifestChunk {
  file: string;
  isEntry?: boolean;
  css?: string[];
  imports?: string[];
  assets?: string[];
}

/**
 * Where the built bundle is looked for: next to the sources (`libs/console/ui/dist`), from `src/ui` here or from
 * its compiled copy under `dist/libs/console/src/ui`. `RELIABLE_MQ_CONSOLE_UI_DIR` names another place.
 */
export function consoleUiDirCandidates(): string[] {
  const fromEnv = process.env.RELIABLE_MQ_CONSOLE_UI_DIR;
  if (fromEnv) return [resolve(fromEnv)];
  return [resolve(__dirname, '../../ui/dist'), resolve(__dirname, '../../../../../libs/console/ui/dist')];
}

/**
 * The console's browser bundle, built by Vite from `libs/console/ui` (see its README): the manifest names the
 * hashed files of the entry, which are read once at startup and served from memory. A missing or broken build
 * stops the module at startup with the command that makes it, rather than serving pages that do nothing.
 */
@Injectable()
export class ConsoleAssets {
  private readonly assets = new Map<string, ConsoleAsset>();
  readonly bundle: ConsoleBundle;
  readonly dir: string;

  constructor() {
    const candidates = consoleUiDirCandidates();
    const dir = candidates.find((candidate) => existsSync(join(candidate, '.vite', 'manifest.json')));
    if (!dir) {
      throw new ConfigurationError(
        `ReliableMqConsoleModule: the console's front-end bundle is not built (no .vite/manifest.json in ${candidates.join(' or ')}). ` +
          `Run \`${BUILD_COMMAND}\` at the repository root; \`npm install\` and \`npm ci\` run it too.`,
      );
    }
    this.dir = dir;
    let manifest: Record<string, ManifestChunk>;
    try {
      manifest = JSON.parse(readFileSync(join(dir, '.vite', 'manifest.json'), 'utf8')) as Record<string, ManifestChunk>;
    } catch (error) {
      throw new ConfigurationError(
        `ReliableMqConsoleModule: the console's bundle manifest in ${dir} cannot be read (${(error as Error).message}); run \`${BUILD_COMMAND}\` again.`,
      );
    }
    const entry = manifest[CONSOLE_UI_ENTRY];
    if (!entry?.isEntry) {
      throw new ConfigurationError(
        `ReliableMqConsoleModule: the bundle in ${dir} has no entry ${CONSOLE_UI_ENTRY}; run \`${BUILD_COMMAND}\` again.`,
      );
    }
    const scripts: string[] = [];
    const styles = new Set<string>();
    const seen = new Set<string>();
    const visit = (key: string, chunk: ManifestChunk): void => {
      if (seen.has(key)) return;
      seen.add(key);
      for (const imported of chunk.imports ?? []) {
        const child = manifest[imported];
        if (child) visit(imported, child);
      }
      for (const css of chunk.css ?? []) styles.add(this.load(css));
    };
    visit(CONSOLE_UI_ENTRY, entry);
    scripts.push(this.load(entry.file));
    // Every other file of the build (lazy chunks, fonts, images) is served too, but only those the manifest lists.
    for (const chunk of Object.values(manifest)) {
      for (const file of [chunk.file, ...(chunk.css ?? []), ...(chunk.assets ?? [])]) this.load(file);
    }
    this.bundle = { scripts, styles: [...styles] };
  }

  /** Only files of the built bundle, by their hashed name; anything else (including paths) is not found. */
  get(name: string): ConsoleAsset | undefined {
    return this.assets.get(name);
  }

  private load(file: string): string {
    const name = basename(file);
    if (this.assets.has(name)) return name;
    const type = TYPES[extname(name)] ?? 'application/octet-stream';
    let body: Buffer;
    try {
      body = readFileSync(join(this.dir, file));
    } catch {
      throw new ConfigurationError(
        `ReliableMqConsoleModule: ${join(this.dir, file)} is named by the bundle's manifest but missing; run \`${BUILD_COMMAND}\` again.`,
      );
    }
    this.assets.set(name, { type, body, etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"` });
    return name;
  }
}
