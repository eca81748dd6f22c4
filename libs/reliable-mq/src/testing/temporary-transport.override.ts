import { EscapingLogger } from '../logging/escaping-logger';
import { loadOptionalDependency, type FlushMode } from '@reliable-mq/engine';
import { RELIABLE_MQ_OPTIONS, RELIABLE_MQ_TRANSPORT } from '../constants';
import type { EmbeddedTransportOptions } from '../reliable-mq-options.interface';
import type { ResolvedReliableMqOptions } from '../reliable-mq-options.resolver';
import { EmbeddedTransport } from '../transport/embedded.transport';
import type { Transport } from '../transport/transport.interface';
import { temporaryEmbeddedTransport } from './reliable-mq-test-harness';

export interface TemporaryTransportOptions {
  /**
   * Topics to create at startup, with an optional queue count. Default: the `topics` of the transport the app is
   * configured with, if it lists any. Other topics are created when first used, unless
   * `engine.autoCreateTopics` is false.
   */
  topics?: EmbeddedTransportOptions['topics'];
  /** Default `async`: a test has nothing to lose on power failure, and fsync per batch only slows it down. */
  flush?: FlushMode;
  /** Any other engine option. Defaults here: `autoCreateTopics: true`, `minFreeDiskBytes: 0`. */
  engine?: EmbeddedTransportOptions['engine'];
}

/**
 * The part of `@nestjs/testing`'s `TestingModuleBuilder` that `withTemporaryTransport` uses, so that this package
 * needs no dependency on `@nestjs/testing` and fits any version whose builder has `overrideProvider`.
 */
export interface ProviderOverridingBuilder<Builder> {
  overrideProvider(token: symbol): {
    useFactory(options: { factory: (...args: never[]) => unknown; inject?: unknown[] }): Builder;
  };
}

/**
 * Runs the app's ReliableMQ on a temporary in-process broker in a test, whatever transport its module configures:
 * the `RELIABLE_MQ_TRANSPORT` provider is replaced by the embedded engine in a fresh temporary directory, so a
 * `remote` or `rabbitmq` transport is never constructed and nothing connects to it. The directory is deleted when
 * the app closes (`app.close()`), or at once if the engine fails to open. A compile that fails after the transport
 * was created leaves it to the OS temp folder, since Nest closes nothing then.
 *
 *     const moduleRef = await withTemporaryTransport(Test.createTestingModule({ imports: [AppModule] })).compile();
 *
 * Returns the builder, so other overrides chain as usual. Everything else of the app stays as configured: its
 * `dataSource` and outbox, and its dedup store (override `RELIABLE_MQ_DEDUP_STORE` too for an app on Redis dedup).
 *
 * Needs `better-sqlite3` (an optional peer dependency, usually a dev dependency for this use): the embedded engine
 * stores messages in SQLite. Without it the app's start fails with an error that names the package to install.
 */
export function withTemporaryTransport<Builder extends ProviderOverridingBuilder<Builder>>(
  builder: Builder,
  options: TemporaryTransportOptions = {},
): Builder {
  return builder.overrideProvider(RELIABLE_MQ_TRANSPORT).useFactory({
    factory: (appOptions: ResolvedReliableMqOptions) => openTemporaryTransport(appOptions, options),
    inject: [RELIABLE_MQ_OPTIONS],
  });
}

async function openTemporaryTransport(
  appOptions: ResolvedReliableMqOptions,
  options: TemporaryTransportOptions,
): Promise<Transport> {
  // Checked here so that the message names this helper: the app may be configured for a transport without SQLite.
  loadOptionalDependency(
    'better-sqlite3',
    'withTemporaryTransport() runs the embedded broker engine in a temporary directory, and so it',
    () => require('better-sqlite3'),
  );
  const configuredTopics = 'topics' in appOptions.transport ? appOptions.transport.topics : undefined;
  const temporary = temporaryEmbeddedTransport({
    topics: options.topics ?? configuredTopics,
    flush: options.flush ?? 'async',
    engine: { autoCreateTopics: true, ...options.engine },
  });
  const logger = new EscapingLogger('ReliableMqBroker');
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
