// ESLint rule: a package's shipped code imports only what its package.json declares (dependencies, peer and
// optional dependencies) and Node's own modules. It keeps the package graph of docs/architecture.md true where it
// matters, in what users install: the standalone broker does not load Nest, the protocol loads nothing but
// MessagePack, the engine nothing but better-sqlite3. A package's specs and its `test/` folder are not shipped and
// may import the repository's other packages and dev tools.
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BUILTINS = new Set(builtinModules);

function readWorkspaces() {
  const rootManifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  return rootManifest.workspaces.map((folder) => {
    const manifest = JSON.parse(readFileSync(join(ROOT, folder, 'package.json'), 'utf8'));
    const declared = new Set([
      manifest.name,
      ...Object.keys(manifest.dependencies ?? {}),
      ...Object.keys(manifest.peerDependencies ?? {}),
      ...Object.keys(manifest.optionalDependencies ?? {}),
    ]);
    return { name: manifest.name, folder, dir: join(ROOT, folder) + sep, declared };
  });
}

const WORKSPACES = readWorkspaces();

/**
 * The workspace whose shipped code `file` is (its compiled `src/` and its `bin/`), or undefined for specs, test kits,
 * code a bundler builds into the package (the console's `ui/`) and files outside the packages.
 */
function shippedIn(file) {
  const workspace = WORKSPACES.find((candidate) => file.startsWith(candidate.dir));
  if (!workspace) return undefined;
  const shipped = ['src', 'bin'].some((folder) => file.startsWith(join(workspace.dir, folder) + sep));
  if (!shipped || /\.(spec|e2e-spec)\.[cm]?[jt]sx?$/.test(file)) return undefined;
  return workspace;
}

/** `@scope/name/deep` → `@scope/name`; `name/deep` → `name`. */
function packageName(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** @type {import('eslint').Rule.RuleModule} */
const rule = {
  meta: {
    type: 'problem',
    docs: { description: "Shipped code imports only the packages its package.json declares, and Node's modules." },
    schema: [],
    messages: {
      undeclared:
        "'{{specifier}}' is not declared in {{folder}}/package.json, so {{name}} would not find it once installed. Declare {{package}} in its dependencies (peerDependencies when the application brings it), or import it only from specs and test kits.",
    },
  },
  create(context) {
    const file = context.filename ?? context.getFilename();
    const workspace = shippedIn(file);
    if (!workspace) return {};
    function check(node) {
      const specifier = node?.value;
      if (typeof specifier !== 'string' || specifier.startsWith('.') || specifier.startsWith('/')) return;
      if (specifier.startsWith('node:') || BUILTINS.has(packageName(specifier))) return;
      const name = packageName(specifier);
      if (workspace.declared.has(name)) return;
      context.report({
        node,
        messageId: 'undeclared',
        data: {
          specifier,
          package: name,
          name: workspace.name,
          folder: workspace.folder,
        },
      });
    }
    return {
      ImportDeclaration: (node) => check(node.source),
      ExportNamedDeclaration: (node) => check(node.source),
      ExportAllDeclaration: (node) => check(node.source),
      ImportExpression: (node) => check(node.source),
      CallExpression: (node) => {
        if (
          node.callee.type === 'Identifier' &&
          node.callee.name === 'require' &&
          node.arguments[0]?.type === 'Literal'
        )
          check(node.arguments[0]);
      },
    };
  },
};

export const declaredDependencies = { rules: { 'declared-dependencies': rule } };
