import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensurePackagesBuilt, missingDeclarations, REPO_ROOT } from './built-packages';
import {
  createAppFolder,
  extractTsBlocks,
  typeCheckBlocks,
  type AppFolder,
  type BlockModuleKind,
  type TsBlock,
} from './readme-blocks';

const NODE_MODULES = path.join(REPO_ROOT, 'node_modules');

/** The packages, copied into the application folder as installed. */
const INSTALLED = [
  { name: '@reliable-mq/protocol', dir: path.join(REPO_ROOT, 'libs/protocol') },
  { name: '@reliable-mq/engine', dir: path.join(REPO_ROOT, 'libs/broker-engine') },
  { name: '@reliable-mq/nestjs', dir: path.join(REPO_ROOT, 'libs/reliable-mq') },
  { name: '@reliable-mq/console', dir: path.join(REPO_ROOT, 'libs/console') },
  { name: '@reliable-mq/broker', dir: path.join(REPO_ROOT, 'apps/broker') },
];

/** The Markdown files whose TypeScript blocks users copy: the main README, each package's, and the telemetry setup. */
const DOCUMENTS = [
  'README.md',
  'libs/reliable-mq/README.md',
  'libs/protocol/README.md',
  'libs/broker-engine/README.md',
  'libs/console/README.md',
  'apps/broker/README.md',
  'docs/observability.md',
];

describe('extractTsBlocks', () => {
  it('finds ts and typescript blocks, with their lines, exemptions and preambles', () => {
    const markdown = [
      '# Title', // 1
      '', // 2
      '```ts', // 3
      'const a = 1;', // 4
      '```', // 5
      '```bash', // 6
      'npm test', // 7
      '```', // 8
      '<!-- not-compiled: a fragment of the block above -->', // 9
      '', // 10
      '```typescript', // 11
      'a;', // 12
      '```', // 13
      '- a list item:', // 14
      '  <!-- ts-preamble', // 15
      '  declare const b: number;', // 16
      '  -->', // 17
      '  ```ts', // 18
      '  export const c = b;', // 19
      '  ```', // 20
      '<!-- not-compiled: only right before a fence -->', // 21
      'Some text.', // 22
      '```ts', // 23
      'export {};', // 24
      '```', // 25
    ].join('\n');
    const blocks = extractTsBlocks(markdown);
    expect(blocks).toEqual([
      { index: 1, line: 3, code: 'const a = 1;\n' },
      { index: 2, line: 11, code: 'a;\n', exemption: 'a fragment of the block above' },
      { index: 3, line: 18, code: 'export const c = b;\n', preamble: 'declare const b: number;' },
      { index: 4, line: 23, code: 'export {};\n' },
    ]);
  });

  it('refuses an exemption without a reason', () => {
    expect(() => extractTsBlocks('<!-- not-compiled: -->\n```ts\nx;\n```\n')).toThrow(/gives no reason/);
  });
});

describe('typeCheckBlocks', () => {
  let app: AppFolder;
  beforeAll(async () => {
    // Another test may rebuild the packages at the same time; a copy taken in the middle of that is taken again.
    for (let attempt = 1; ; attempt++) {
      await ensurePackagesBuilt();
      app = createAppFolder(NODE_MODULES, INSTALLED);
      const missing = INSTALLED.flatMap((pkg) =>
        missingDeclarations(pkg.dir, path.join(app.dir, 'node_modules', pkg.name, 'dist')),
      );
      if (missing.length === 0) return;
      app.remove();
      if (attempt === 5) throw new Error(`The built packages lack ${missing.length} files, e.g. ${missing[0]}`);
      await new Promise((done) => setTimeout(done, 5_000));
    }
  }, 300_000);
  afterAll(() => app?.remove());

  it('reports a type error in a block, on its Markdown line, and passes a correct block', () => {
    const markdown = [
      '```ts', // 1
      "import { Module } from '@nestjs/common';", // 2
      '@Module({})', // 3
      'export class AppModule {}', // 4
      '```', // 5
      '', // 6
      '```ts', // 7
      "import { NonRetryableError } from '@reliable-mq/nestjs';", // 8
      'const count: number = new NonRetryableError(42);', // 9
      '```', // 10
      '<!-- not-compiled: broken on purpose, and exempted -->', // 11
      '```ts', // 12
      'const x: string = 1;', // 13
      '```', // 14
    ].join('\n');
    const [good, broken, exempted] = extractTsBlocks(markdown) as [TsBlock, TsBlock, TsBlock];
    const result = typeCheckBlocks([good, broken, exempted], { appDir: app.dir, kind: 'commonjs' });
    expect(result.otherErrors).toEqual([]);
    expect(result.errorsByBlock.get(good)).toEqual([]);
    const errors = result.errorsByBlock.get(broken) ?? [];
    expect(errors.join('\n')).toMatch(/^line 9: TS2345 .*number.*string/m);
    expect(errors.join('\n')).toMatch(/^line 9: TS2322 .*NonRetryableError.*number/m);
    expect(result.errorsByBlock.has(exempted)).toBe(false);
  }, 120_000);

  const blocksOf = new Map(
    DOCUMENTS.map((document) => [document, extractTsBlocks(readFileSync(path.join(REPO_ROOT, document), 'utf8'))]),
  );

  it.each(DOCUMENTS)('%s has TypeScript blocks, and few are exempted', (document) => {
    const blocks = blocksOf.get(document) ?? [];
    expect(blocks.length).toBeGreaterThan(0);
    expect(blocks.filter((block) => block.exemption !== undefined).length).toBeLessThanOrEqual(2);
  });

  // Every document's blocks in one program per kind: a program is most of the time spent.
  it.each<BlockModuleKind>(['commonjs', 'esm'])(
    'the blocks compile as printed in a strict %s application against the built packages',
    (kind) => {
      const all = [...blocksOf.values()].flat();
      const result = typeCheckBlocks(all, { appDir: app.dir, kind });
      const problems = [...result.otherErrors];
      for (const [document, blocks] of blocksOf) {
        for (const block of blocks) {
          for (const error of result.errorsByBlock.get(block) ?? []) {
            problems.push(`${document} block ${block.index} (fence on line ${block.line}), ${error}`);
          }
        }
      }
      expect(problems).toEqual([]);
      // The `@reliable-mq/*` imports resolved to the copied builds, never to the repository's sources.
      expect(result.files.filter((file) => file.startsWith(REPO_ROOT + path.sep + 'libs'))).toEqual([]);
      expect(result.files.filter((file) => file.startsWith(REPO_ROOT + path.sep + 'apps'))).toEqual([]);
    },
    180_000,
  );
});
