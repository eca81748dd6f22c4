import { loadOptionalDependency, type FlushMode } from '@reliable-mq/engine';
import type { EmbeddedTransportOptions } from '../reliable-mq-options.interface';
import { EmbeddedTransport } from '../transport/embedded.transport';
import type { TransportFactory } from '../transport/transport-factory';
import type { Transport } from '../transport/transport.interface';
import { temporaryEmbeddedTransport } from './reliable-mq-test-harness';

export interface TemporaryTransportOptions {
  /**
   * Topics to create at startup, with an optional queue count. Default (with `withTemporaryTransport`): the `topics`
   * of the transport the app is configured with, if it lists any. Other topics are created when first used, unless
   * `engine.autoCreateTopics` is false.
   */
  topics?: EmbeddedTransportOptions['topics'];
  /** Default `async`: a test has nothing to lose on power failure, and fsync per batch only slows it down. */
  flush?: FlushMode;
  /** Any other engine option. Defaults here: `autoCreateTopics: true`, `minFreeDiskBytes: 0`. */
  engine?: EmbeddedTransportOptions['engine'];
}

/**
 * A transport factory for tests: the included engine in a fresh temporary directory, deleted when the transport
 * closes (at `app.close()`), or at once if the engine fails to open. It is an ordinary TransportFactory, the same
 * kind of value as one for a transport of your own:
 *
 *     ReliableMqModule.forRoot({ producerGroup: 'order-service', transport: temporaryTransport({ topics: ['order.created'] }) })
 *
 * Needs `better-sqlite3` (an optional peer dependency, usually a dev dependency for this use).
 */
export function temporaryTransport(
  options: TemporaryTransportOptions = {},
  helper = 'temporaryTransport()',
): TransportFactory {
  return async (context): Promise<Transport> => {
    // Checked here so that the message names the helper: the app may be configured for a transport without SQLite.
    loadOptionalDependency(
      'better-sqlite3',
      `${helper} runs the embedded broker engine in a temporary directory, and so it`,
      () => require('better-sqlite3'),
    );
    const temporary = temporaryEmbeddedTransport({
      topics: options.topics,
      flush: options.flush ?? 'async',
      engine: { autoCreateTopics: true, ...options.engine },
    });
    const logger = context.logger('ReliableMqBroker');
    const transport = new TemporaryDirectoryTransport(
      temporary.transport,
      temporary.cleanup,
      (error) => logger.error(error.message, error.stack),
      (message) => logger.warn(message),
    );
    try {
      await transport.connect();
    } catch (error) {
      temporary.cleanup();
      throw error;
    }
    return transport;
  };
}

/** The embedded transport that deletes its data directory once it is closed, as the module does at app close. */
class TemporaryDirectoryTransport extends EmbeddedTransport {
  constructor(
    options: EmbeddedTransportOptions,
    private readonly removeDataDir: () => void,
    onError: (error: Error) => void,
    onWarning: (message: string) => void,
  ) {
    super(options, onError, onWarning);
  }

  override async close(): Promise<void> {
    try {
      await super.close();
    } finally {
      this.removeDataDir();
    }
  }
}
