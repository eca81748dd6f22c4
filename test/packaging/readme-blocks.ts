import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import ts from 'typescript';

/** A fenced TypeScript block of a Markdown file. */
export interface TsBlock {
  /** 1-based position among the file's TypeScript blocks. */
  readonly index: number;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The block's text, with the fence's indentation removed. */
  readonly code: string;
  /** Why the block is not compiled, from `<!-- not-compiled: reason -->` right before the fence. */
  readonly exemption?: string;
  /** Hidden code placed before the block, from `<!-- ts-preamble … -->` right before the fence. */
  readonly preamble?: string;
}

const TS_LANGS = new Set(['ts', 'typescript']);
const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)/;
const NOT_COMPILED = /^<!--\s*not-compiled:(.*?)-->$/s;
const PREAMBLE = /^<!--\s*ts-preamble\b(.*?)-->$/s;

/**
 * The ` ```ts ` and ` ```typescript ` blocks of a Markdown text, in order. An HTML comment standing alone right
 * before a fence (blank lines allowed) either exempts the block (`not-compiled: reason`, the reason is required) or
 * gives it a hidden preamble (`ts-preamble` followed by code).
 */
export function extractTsBlocks(markdown: string): TsBlock[] {
  const lines = markdown.split(/\r?\n/);
  const blocks: TsBlock[] = [];
  let comment: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i] ?? '';
    const open = FENCE.exec(text);
    if (!open) {
      const trimmed = text.trim();
      if (trimmed.startsWith('<!--')) {
        let body = trimmed;
        while (!body.endsWith('-->') && i + 1 < lines.length) body += '\n' + (lines[++i] ?? '').trim();
        comment = body;
      } else if (trimmed !== '') {
        comment = undefined;
      }
      continue;
    }
    const [, indent = '', fence = '```', lang = ''] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const line = lines[j] ?? '';
      const close = line.trim();
      if (close.startsWith(fence) && close.replace(fence[0] === '`' ? /`/g : /~/g, '') === '') break;
      body.push(line.startsWith(indent) ? line.slice(indent.length) : line.trimStart());
    }
    if (TS_LANGS.has(lang.toLowerCase())) {
      const exemption = comment === undefined ? undefined : NOT_COMPILED.exec(comment)?.[1]?.trim();
      const preamble = comment === undefined ? undefined : PREAMBLE.exec(comment)?.[1]?.trim();
      if (exemption === '') throw new Error(`The not-compiled comment before line ${i + 1} gives no reason.`);
      blocks.push({
        index: blocks.length + 1,
        line: i + 1,
        code: body.join('\n') + '\n',
        ...(exemption === undefined ? {} : { exemption }),
        ...(preamble ? { preamble } : {}),
      });
    }
    comment = undefined;
    i = j;
  }
  return blocks;
}

/** How the blocks are compiled: as a CommonJS app (Nest 11's default) or as an ESM app (Nest 12's). */
export type BlockModuleKind = 'commonjs' | 'esm';

/** A package copied into an application folder as if installed: its `package.json` and its built `dist`. */
export interface InstalledPackage {
  readonly name: string;
  readonly dir: string;
}

export interface AppFolder {
  readonly dir: string;
  remove(): void;
}

/**
 * A temporary application folder outside the repository. Its `node_modules` links every module of `nodeModules`
 * except the `packages`, which are copied in (`package.json` and `dist`), so that the check sees them as an
 * application that installed them would, and a concurrent rebuild of their `dist` cannot change them under it.
 */
export function createAppFolder(nodeModules: string, packages: readonly InstalledPackage[]): AppFolder {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rmq-readme-blocks-'));
  const modules = path.join(dir, 'node_modules');
  mkdirSync(modules);
  const copied = new Set(packages.map((pkg) => pkg.name));
  for (const entry of readdirSync(nodeModules)) {
    if (entry.startsWith('@')) {
      mkdirSync(path.join(modules, entry));
      for (const scoped of readdirSync(path.join(nodeModules, entry))) {
        if (copied.has(`${entry}/${scoped}`)) continue;
        symlinkSync(path.join(nodeModules, entry, scoped), path.join(modules, entry, scoped), 'dir');
      }
    } else if (!copied.has(entry)) {
      symlinkSync(path.join(nodeModules, entry), path.join(modules, entry), 'dir');
    }
  }
  for (const pkg of packages) {
    const target = path.join(modules, ...pkg.name.split('/'));
    mkdirSync(target, { recursive: true });
    cpSync(path.join(pkg.dir, 'package.json'), path.join(target, 'package.json'));
    cpSync(path.join(pkg.dir, 'dist'), path.join(target, 'dist'), { recursive: true });
  }
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface TypeCheckOptions {
  /** An application folder from `createAppFolder`; the blocks are written into a subfolder of it. */
  readonly appDir: string;
  readonly kind: BlockModuleKind;
}

export interface TypeCheckResult {
  /** Formatted errors of each compiled block; a block without errors has an empty list, an exempted one none. */
  readonly errorsByBlock: ReadonlyMap<TsBlock, readonly string[]>;
  /** Errors located in no block: in a declaration file the blocks pulled in, or in the options. */
  readonly otherErrors: readonly string[];
  /** Every file of the program, to see where the imports resolved. */
  readonly files: readonly string[];
}

/**
 * Compiler options of a strict application: what `nest new` generates, with `strict` on and library checking on, so
 * that an error in a published declaration file counts as well.
 */
export function applicationCompilerOptions(kind: BlockModuleKind): ts.CompilerOptions {
  return {
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2022.d.ts'],
    ...(kind === 'commonjs'
      ? { module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10 }
      : { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext }),
    moduleDetection: ts.ModuleDetectionKind.Force,
    strict: true,
    skipLibCheck: false,
    experimentalDecorators: true,
    emitDecoratorMetadata: true,
    // `nest new` turns it on; with decorator metadata it makes a type used in a decorated signature need `import type`.
    isolatedModules: true,
    esModuleInterop: true,
    forceConsistentCasingInFileNames: true,
    types: ['node'],
    noEmit: true,
  };
}

/**
 * Type-checks each block that is not exempted as a module of its own, in a subfolder of the application folder, the
 * way an application's files would be. The blocks of several Markdown files may be checked together.
 */
export function typeCheckBlocks(blocks: readonly TsBlock[], options: TypeCheckOptions): TypeCheckResult {
  const dir = mkdtempSync(path.join(options.appDir, `${options.kind}-`));
  try {
    const type = options.kind === 'esm' ? 'module' : 'commonjs';
    writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'readme-blocks', private: true, type }));
    const fileOfBlock = new Map<string, { block: TsBlock; preambleLines: number }>();
    blocks.forEach((block, position) => {
      if (block.exemption !== undefined) return;
      const preamble = block.preamble ? block.preamble + '\n' : '';
      const file = path.join(dir, `block-${position + 1}.ts`);
      writeFileSync(file, preamble + block.code);
      fileOfBlock.set(file, { block, preambleLines: preamble === '' ? 0 : preamble.split('\n').length - 1 });
    });
    const program = ts.createProgram({
      rootNames: [...fileOfBlock.keys()],
      options: applicationCompilerOptions(options.kind),
    });
    const errorsByBlock = new Map<TsBlock, string[]>();
    for (const { block } of fileOfBlock.values()) errorsByBlock.set(block, []);
    const otherErrors: string[] = [];
    for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
      if (diagnostic.category !== ts.DiagnosticCategory.Error) continue;
      const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
      const owner = diagnostic.file ? fileOfBlock.get(path.resolve(diagnostic.file.fileName)) : undefined;
      if (owner && diagnostic.file && diagnostic.start !== undefined) {
        const at = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
        const lineInBlock = at.line + 1 - owner.preambleLines;
        const where = lineInBlock >= 1 ? `line ${owner.block.line + lineInBlock}` : 'its preamble';
        errorsByBlock.get(owner.block)?.push(`${where}: TS${diagnostic.code} ${message}`);
      } else {
        const where = diagnostic.file
          ? path.relative(options.appDir, path.resolve(diagnostic.file.fileName))
          : 'options';
        otherErrors.push(`${where}: TS${diagnostic.code} ${message}`);
      }
    }
    return {
      errorsByBlock,
      otherErrors,
      files: program.getSourceFiles().map((file) => path.resolve(file.fileName)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
