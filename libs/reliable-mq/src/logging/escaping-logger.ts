import { Logger } from '@nestjs/common';
import { escapeLogText } from '@reliable-mq/engine';

/**
 * The framework's Nest logger: the application's logger, levels and format still apply, but every message is written
 * with its control characters escaped. Framework lines quote message ids, keys, topics and error texts that producers,
 * payloads and peers choose; escaping the whole line in one place means none of them can start a forged line or drive
 * the operator's terminal, whichever line quotes them. A stack passed to `error` is left as it is.
 */
export class EscapingLogger extends Logger {
  override log(message: unknown, ...rest: unknown[]): void {
    super.log(escaped(message), ...(rest as []));
  }

  override warn(message: unknown, ...rest: unknown[]): void {
    super.warn(escaped(message), ...(rest as []));
  }

  override error(message: unknown, ...rest: unknown[]): void {
    super.error(escaped(message), ...(rest as []));
  }

  override debug(message: unknown, ...rest: unknown[]): void {
    super.debug(escaped(message), ...(rest as []));
  }

  override verbose(message: unknown, ...rest: unknown[]): void {
    super.verbose(escaped(message), ...(rest as []));
  }

  override fatal(message: unknown, ...rest: unknown[]): void {
    super.fatal(escaped(message), ...(rest as []));
  }
}

function escaped(message: unknown): unknown {
  return typeof message === 'string' ? escapeLogText(message) : message;
}
