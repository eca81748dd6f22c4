import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { checkJson } from '../ui/src/json-check';

const UI = resolve(__dirname, '../ui');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(dir, entry.name)) : [join(dir, entry.name)],
  );
}

describe('the console front end', () => {
  it('never builds markup from strings: no innerHTML, dangerouslySetInnerHTML, eval or document.write', () => {
    const sources = files(join(UI, 'src')).filter((file) => /\.(ts|tsx)$/.test(file));
    expect(sources.length).toBeGreaterThan(5);
    for (const file of sources) {
      const text = readFileSync(file, 'utf8');
      for (const banned of ['innerHTML', 'outerHTML', 'dangerouslySetInnerHTML', 'insertAdjacentHTML', 'eval(']) {
        expect(text, `${file} uses ${banned}`).not.toContain(banned);
      }
      expect(text, file).not.toMatch(/document\.write|new Function|style=/);
    }
  });

  it('is built as hashed files listed by a manifest, with nothing evaluated from strings', () => {
    const manifest = JSON.parse(readFileSync(join(UI, 'dist/.vite/manifest.json'), 'utf8')) as Record<
      string,
      { file: string; isEntry?: boolean; css?: string[] }
    >;
    const entry = manifest['src/main.tsx']!;
    expect(entry.isEntry).toBe(true);
    expect(entry.file).toMatch(/^assets\/console-[\w-]{8,}\.js$/);
    expect(entry.css?.[0]).toMatch(/^assets\/console-[\w-]{8,}\.css$/);
    const script = readFileSync(join(UI, 'dist', entry.file), 'utf8');
    expect(script).not.toMatch(/\beval\(|new Function\(/);
  });
});

describe('the JSON editor check', () => {
  it('accepts JSON and says where it breaks otherwise', () => {
    expect(checkJson('{"card": "4242"}')).toEqual({ ok: true, message: 'Valid JSON.' });
    expect(checkJson('  ')).toEqual({ ok: false, message: 'The payload is empty; a JSON value is needed.' });
    const broken = checkJson('{\n  "card": "4242",\n}');
    expect(broken.ok).toBe(false);
    expect(broken.message).toMatch(/^Not valid JSON: /);
    expect(broken.message).toMatch(/line 3/);
  });
});
