/**
 * The logging the broker does: one line per entry on stdout (stderr for errors) by default, a silent one in tests
 * that provoke many failures. The broker is not a Nest application, so it does not pull in Nest for its log.
 */
export interface BrokerLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string, stack?: string): void;
  debug?(message: string): void;
}

export function brokerLogger(context = 'BrokerServer'): BrokerLogger {
  const line = (level: string, message: string): string =>
    `[ReliableMQ] ${process.pid}  - ${new Date().toISOString()} ${level.padStart(7)} [${context}] ${message}`;
  return {
    log: (message) => process.stdout.write(`${line('LOG', message)}\n`),
    warn: (message) => process.stdout.write(`${line('WARN', message)}\n`),
    error: (message, stack) => process.stderr.write(`${line('ERROR', message)}\n${stack ? `${stack}\n` : ''}`),
    debug: (message) => process.stdout.write(`${line('DEBUG', message)}\n`),
  };
}

export const silentBrokerLogger: BrokerLogger = { log: () => undefined, warn: () => undefined, error: () => undefined };
