import { escapeLogText } from '@reliable-mq/engine';

/**
 * The logging the broker does: one line per entry on stdout (stderr for errors) by default, a silent one in tests
 * that provoke many failures. The broker is not a Nest application, so it does not pull in Nest for its log.
 */
export interface BrokerLogger {
  log(message: string): void;
  /** `kind` (an error code) lets a throttling logger count floods of one kind apart from the others. */
  warn(message: string, kind?: string): void;
  error(message: string, stack?: string): void;
  debug?(message: string): void;
}

export function brokerLogger(context = 'BrokerServer'): BrokerLogger {
  // Messages carry what peers sent (client names, ids, error texts): escaped here, once, so none can forge a line.
  const line = (level: string, message: string): string =>
    `[ReliableMQ] ${process.pid}  - ${new Date().toISOString()} ${level.padStart(7)} [${context}] ${escapeLogText(message)}`;
  const stackLines = (stack: string): string =>
    stack
      .split('\n')
      .map((part) => `${escapeLogText(part)}\n`)
      .join('');
  return {
    log: (message) => process.stdout.write(`${line('LOG', message)}\n`),
    warn: (message) => process.stdout.write(`${line('WARN', message)}\n`),
    error: (message, stack) => process.stderr.write(`${line('ERROR', message)}\n${stack ? stackLines(stack) : ''}`),
    debug: (message) => process.stdout.write(`${line('DEBUG', message)}\n`),
  };
}

export const silentBrokerLogger: BrokerLogger = { log: () => undefined, warn: () => undefined, error: () => undefined };
