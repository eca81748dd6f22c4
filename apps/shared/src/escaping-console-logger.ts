import { ConsoleLogger, type LogLevel } from '@nestjs/common';
import { escapeLogText } from '@reliable-mq/nestjs';

/**
 * Nest's console logger with every message and stack line escaped (`escapeLogText`): a customer id, a message key or
 * an error text holding a line break or a terminal escape is written as `\n` or `\x1b`, so no request or message can
 * forge a log line or drive the operator's terminal. Lines of the framework, of Nest and of the service alike.
 */
export class EscapingConsoleLogger extends ConsoleLogger {
  protected override stringifyMessage(message: unknown, logLevel: LogLevel): string {
    return super.stringifyMessage(typeof message === 'string' ? escapeLogText(message) : message, logLevel) as string;
  }

  protected override printStackTrace(stack: string): void {
    super.printStackTrace(stack && stack.split('\n').map(escapeLogText).join('\n'));
  }
}
