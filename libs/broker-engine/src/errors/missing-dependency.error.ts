import { ReliableMqError } from './reliable-mq.error';

/** A driver that the chosen setup needs is not installed; raised when that setup starts, never at message time. */
export class MissingDependencyError extends ReliableMqError {
  readonly code = 'MISSING_DEPENDENCY';

  constructor(
    readonly packageName: string,
    usedFor: string,
    cause: unknown,
  ) {
    super(
      `${usedFor} needs the package "${packageName}", which cannot be loaded (${messageOf(cause)}). ` +
        `Install it in your application: npm install ${packageName}`,
    );
  }
}

function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  // Node's "Require stack" lists every importer; the first line says what is missing.
  return text.split('\n')[0] ?? text;
}
