import { MissingDependencyError } from '../errors/missing-dependency.error';

/**
 * Loads a driver that is an optional peer dependency, the first time a feature needs it. `load` is the caller's
 * own `() => require('name')`, so that the package is resolved from the package that declares the peer (strict
 * layouts such as pnpm's do not let one package see another's peers). A missing package becomes a
 * `MissingDependencyError` that names the command to run.
 */
export function loadOptionalDependency<T>(packageName: string, usedFor: string, load: () => unknown): T {
  try {
    return load() as T;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') {
      throw new MissingDependencyError(packageName, usedFor, error);
    }
    throw error;
  }
}
