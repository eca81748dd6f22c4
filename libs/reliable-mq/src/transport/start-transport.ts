import { TransportUnavailableError } from '../errors/transport-unavailable.error';
import type { BackgroundConnectResult } from './background-connect-result';
import type { ConnectionListener } from './transport.interface';

/** A transport that can start with or without its broker. */
export interface StartableTransport {
  connect(): Promise<void>;
  connectInBackground(): Promise<BackgroundConnectResult>;
  onConnectionChange(listener: ConnectionListener): () => void;
}

export interface TransportStartup {
  /** `transport.waitForConnection`. */
  waitForConnection: boolean;
  /** The broker as a log line names it, e.g. `RabbitMQ at amqp://guest:***@host:5672`. */
  broker: string;
  logger: { log(message: string): void; warn(message: string): void };
}

/**
 * Starts a network transport at application startup. By default the application starts whether or not the broker
 * answers, since the outbox keeps business transactions until it does; the log says when it is reachable. With
 * `waitForConnection`, startup waits for it and fails with a sentence saying how to go on.
 */
export async function startTransport(transport: StartableTransport, startup: TransportStartup): Promise<void> {
  const { broker, logger } = startup;
  if (startup.waitForConnection) {
    try {
      await transport.connect();
    } catch (error) {
      if (!(error instanceof TransportUnavailableError)) throw error;
      throw new TransportUnavailableError(
        `${error.message} Startup waited for it because transport.waitForConnection is true: start the broker, or ` +
          'remove that option so that the application starts without it (business transactions then wait in the ' +
          'outbox until it is reachable).',
        { cause: error },
      );
    }
    logger.log(`Connected to ${broker}`);
    return;
  }
  const result = await transport.connectInBackground();
  if (result.connected) {
    logger.log(`Connected to ${broker}`);
    return;
  }
  const sentence = broker.charAt(0).toUpperCase() + broker.slice(1);
  logger.warn(
    `${sentence} is not reachable (${result.reason.message}); starting without it. Business transactions go to the ` +
      'outbox, and the relay and the consumers attach as soon as it is reachable. Set transport.waitForConnection ' +
      'to true to make startup wait for it instead.',
  );
  const stop = transport.onConnectionChange((connected) => {
    if (!connected) return;
    stop();
    logger.log(`Connected to ${broker}: the relay and the consumers attach now.`);
  });
}
