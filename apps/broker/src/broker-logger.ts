import { Logger } from '@nestjs/common';

/** The logging the broker does; Nest's Logger by default, a silent one in tests that provoke many failures. */
export interface BrokerLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string, stack?: string): void;
  debug?(message: string): void;
}

export function brokerLogger(context = 'BrokerServer'): BrokerLogger {
  const logger = new Logger(context);
  return {
    log: (message) => logger.log(message),
    warn: (message) => logger.warn(message),
    error: (message, stack) => logger.error(message, stack),
    debug: (message) => logger.debug(message),
  };
}

export const silentBrokerLogger: BrokerLogger = { log: () => undefined, warn: () => undefined, error: () => undefined };
