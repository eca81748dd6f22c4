import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HOT_PATH_METRICS } from './metric-names';
import { OBSERVABLE_METRICS } from './observable-metric-names';
import { RELIABLE_MQ_SPANS } from './span-names';

const page = readFileSync(join(__dirname, '..', '..', '..', '..', 'docs', 'observability.md'), 'utf8');
/** The rows of the page's tables, by their first cell. */
const rows = new Map(
  page
    .split('\n')
    .filter((line) => line.startsWith('| `'))
    .map((line) => [/^\| `([^`]+)`/.exec(line)![1]!, line]),
);

describe('docs/observability.md', () => {
  it.each([...Object.values(HOT_PATH_METRICS).map((m) => [m.name, m.unit, m.attributes] as const)])(
    'lists %s with its unit and attributes',
    (name, unit, attributes) => {
      const row = rows.get(name);
      expect(row, `${name} has no row`).toBeDefined();
      expect(row).toContain(`\`${unit}\``);
      for (const attribute of attributes) expect(row).toContain(`\`${attribute}\``);
    },
  );

  it.each(OBSERVABLE_METRICS.map((m) => [m.name, m.unit, m.attributes] as const))(
    'lists %s with its unit and attributes',
    (name, unit, attributes) => {
      const row = rows.get(name);
      expect(row, `${name} has no row`).toBeDefined();
      expect(row).toContain(`\`${unit}\``);
      expect(row).toContain(`\`${name.replace(/\./g, '_')}`);
      for (const attribute of attributes) expect(row).toContain(`\`${attribute}\``);
    },
  );

  it.each(Object.values(RELIABLE_MQ_SPANS).map((span) => [span.name, span.kind] as const))(
    'lists the span %s (%s)',
    (name, kind) => {
      const row = [...rows.entries()].find(([first]) => first === name)?.[1];
      expect(row, `${name} has no row`).toBeDefined();
      expect(row).toContain(`| ${kind} `);
    },
  );
});
