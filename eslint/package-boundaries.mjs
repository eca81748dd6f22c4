// ESLint rule: code imports another workspace package by its name and its public entry points only — never a
// deep path into it (`@reliable-mq/nestjs/outbox/...`) nor a relative path into its folder. What a package's
// `exports` map does not name would not resolve for a team that installed the package, so the repository must
// not depend on it either.
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function readWorkspaces() {
  const rootManifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  return rootManifest.workspaces.map((folder) => {
    const manifest = JSON.parse(readFileSync(join(ROOT, folder, 'package.json'), 'utf8'));
    const entries = Object.keys(manifest.exports ?? { '.': null })
      .filter((key) => key !== './package.json')
      .map((key) => (key === '.' ? manifest.name : `${manifest.name}/${key.slice(2)}`));
    return { name: manifest.name, dir: join(ROOT, folder) + sep, entries };
  });
}

const WORKSPACES = readWorkspaces();

function packageOfFile(file) {
  return WORKSPACES.find((workspace) => file.startsWith(workspace.dir));
}

/**
 * The package whose shipped code `target` lies in. A package's `test/` folder is not shipped (see its `files`):
 * the repository's tests may share the kits kept there.
 */
function packageOfTarget(target) {
  const workspace = packageOfFile(target);
  if (!workspace || target.startsWith(join(workspace.dir, 'test') + sep)) return undefined;
  return workspace;
}

function packageOfSpecifier(specifier) {
  return WORKSPACES.find((workspace) => specifier === workspace.name || specifier.startsWith(`${workspace.name}/`));
}

/** @type {import('eslint').Rule.RuleModule} */
const rule = {
  meta: {
    type: 'problem',
    docs: { description: 'Import other workspace packages by name and public entry point only.' },
    schema: [],
    messages: {
      deep: "'{{specifier}}' reaches inside {{name}}, which exports only {{entries}}. Import one of those (export what you need from it) instead.",
      relative:
        "'{{specifier}}' reaches into the folder of {{name}} by a relative path. Import '{{name}}' (or one of {{entries}}) instead.",
    },
  },
  create(context) {
    const file = context.filename ?? context.getFilename();
    const own = packageOfFile(file);
    function check(node) {
      const specifier = node?.value;
      if (typeof specifier !== 'string') return;
      if (specifier.startsWith('.')) {
        const target = packageOfTarget(resolve(dirname(file), specifier) + sep);
        if (target && target !== own) {
          context.report({
            node,
            messageId: 'relative',
            data: { specifier, name: target.name, entries: target.entries.map((e) => `'${e}'`).join(', ') },
          });
        }
        return;
      }
      const target = packageOfSpecifier(specifier);
      if (target && !target.entries.includes(specifier)) {
        context.report({
          node,
          messageId: 'deep',
          data: { specifier, name: target.name, entries: target.entries.map((e) => `'${e}'`).join(', ') },
        });
      }
    }
    return {
      ImportDeclaration: (node) => check(node.source),
      ExportNamedDeclaration: (node) => check(node.source),
      ExportAllDeclaration: (node) => check(node.source),
      ImportExpression: (node) => check(node.source),
    };
  },
};

export const packageBoundaries = { rules: { 'package-boundaries': rule } };
export const workspaceRoot = ROOT;
// Exposed for the rule's own spec.
export const workspacePackages = WORKSPACES.map(({ name, dir, entries }) => ({
  name,
  dir: relative(ROOT, dir),
  entries,
}));
