import { Logger } from '@nestjs/common';
import { BrokerEngine } from '@reliable-mq/engine';
import { BrokerRefusedError, EmbeddedTransport, RabbitMqTransport, RemoteTransport } from '@reliable-mq/nestjs';
import { redactUrl } from '@reliable-mq/nestjs';
import { engineBacklogSource, rabbitMqBacklogSource, type ConsoleBrokerSource } from '@reliable-mq/console';
import type { ConsoleBrokerConfig } from './console-config';

/** The broker the standalone console operates, opened from its configuration. */
export interface OpenConsoleBroker {
  source: ConsoleBrokerSource;
  /** For the start line, e.g. `broker data in data/broker` or `broker reliable-mq://127.0.0.1:7420`. */
  description: string;
  close(): Promise<void>;
}

/** The broker could not be reached or refused the console; the message says what to change. */
export class ConsoleBrokerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConsoleBrokerError';
  }
}

/**
 * Opens the one broker source the configuration names, and gives the console what it needs from it: the transport's
 * dead-letter operations always; half messages and engine statistics where the broker keeps them.
 *
 * - embedded: this process opens the data directory (no other process may have it open).
 * - remote: a client of the standalone broker; its protocol carries DLQ, statistics and half-message calls, and
 *   asks a live consumer to check an edited payload with its handler's DTO or schema.
 * - rabbitmq: the DLQs of the named groups. There are no engine statistics, and no half messages: on RabbitMQ those
 *   live in each producer's own database (`rmq_half_message`), which the console does not open.
 */
export async function openConsoleBroker(config: ConsoleBrokerConfig): Promise<OpenConsoleBroker> {
  if (config.kind === 'embedded') return openEmbedded(config.dataDir);
  if (config.kind === 'remote') return openRemote(config);
  return openRabbitMq(config);
}

async function openEmbedded(dataDir: string): Promise<OpenConsoleBroker> {
  const logger = new Logger('BrokerEngine');
  const engine = BrokerEngine.open({
    dataDir,
    flush: 'sync',
    onError: (error) => logger.error(error.message, error.stack),
    onWarning: (message) => logger.warn(message),
  });
  const transport = new EmbeddedTransport({ kind: 'embedded', sharedEngine: engine });
  await transport.connect();
  return {
    source: {
      transport,
      stats: () => engine.stats(),
      backlog: engineBacklogSource(engine),
      label: `embedded (${dataDir})`,
    },
    description: `broker data in ${dataDir}`,
    close: async () => {
      await transport.close();
      await engine.close();
    },
  };
}

async function openRemote(config: Extract<ConsoleBrokerConfig, { kind: 'remote' }>): Promise<OpenConsoleBroker> {
  const logger = new Logger('RemoteBroker');
  const transport = new RemoteTransport(
    {
      kind: 'remote',
      url: config.url,
      ...(config.token !== undefined ? { token: config.token } : {}),
      connectTimeoutMs: config.connectTimeoutMs,
      clientName: `console:${process.pid}`,
    },
    {
      onError: (error) => logger.error(error.message),
      onWarning: (message) => logger.warn(message),
    },
    {},
  );
  try {
    await transport.connect();
  } catch (error) {
    await transport.close().catch(() => undefined);
    if (error instanceof BrokerRefusedError && error.brokerCode === 'UNAUTHORIZED') {
      throw new ConsoleBrokerError(
        config.token === undefined
          ? `The broker at ${config.url} requires a token: set BROKER_TOKEN to the broker's token (${error.message}).`
          : `The broker at ${config.url} refused BROKER_TOKEN: it is not the broker's token (${error.message}).`,
        { cause: error },
      );
    }
    throw new ConsoleBrokerError(`BROKER_URL: ${(error as Error).message}`, { cause: error });
  }
  return {
    source: {
      transport,
      stats: () => transport.stats(),
      // This process knows no handler classes: an edit is checked by a live consumer of its group, through the broker.
      validatePayload: (group, topic, payload) => transport.validatePayload(group, topic, Buffer.from(payload, 'utf8')),
      // Its actions need the broker's admin token as BROKER_TOKEN; with the services' token the broker refuses them.
      backlog: transport.backlog,
      label: `standalone broker (${config.url})`,
    },
    description: `broker ${config.url}`,
    close: () => transport.close(),
  };
}

async function openRabbitMq(config: Extract<ConsoleBrokerConfig, { kind: 'rabbitmq' }>): Promise<OpenConsoleBroker> {
  const logger = new Logger('RabbitMq');
  const transport = new RabbitMqTransport(
    {
      kind: 'rabbitmq',
      url: config.url,
      prefix: config.prefix,
      connectTimeoutMs: config.connectTimeoutMs,
      deadLetters: { groups: config.groups },
      connectionName: `reliable-mq console ${process.pid}`,
    },
    {
      env: {},
      logger: {
        log: () => undefined,
        warn: (message) => logger.warn(message),
        error: (message) => logger.error(message),
      },
    },
  );
  try {
    await transport.connect();
  } catch (error) {
    await transport.close().catch(() => undefined);
    throw new ConsoleBrokerError(`RABBITMQ_URL: ${(error as Error).message}`, { cause: error });
  }
  const where = redactUrl(config.url);
  return {
    // No `stats`: RabbitMQ has no engine statistics. No `transactions`: half messages live in the producers' databases.
    source: {
      transport: {
        kind: transport.kind,
        deadLetters: transport.deadLetters,
        // So that the pages can say since when RabbitMQ is unreachable while the transport reconnects.
        get isConnected() {
          return transport.isConnected;
        },
        onConnectionChange: (listener) => transport.onConnectionChange(listener),
      },
      // This process consumes nothing, so the report lists no group queue; the page still says what applies.
      backlog: rabbitMqBacklogSource(transport),
      label: `RabbitMQ (${where}, prefix ${config.prefix}; DLQs of ${config.groups.join(', ')})`,
    },
    description: `RabbitMQ ${where}, DLQs of ${config.groups.join(', ')}`,
    close: () => transport.close(),
  };
}
