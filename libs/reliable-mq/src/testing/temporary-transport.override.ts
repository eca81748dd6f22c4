import { RELIABLE_MQ_OPTIONS, RELIABLE_MQ_TRANSPORT } from '../constants';
import type { ResolvedReliableMqOptions } from '../reliable-mq-options.resolver';
import { createTransport } from '../transport/create-transport';
import { RelayWakeup } from '../transport/relay-wakeup';
import type { Transport } from '../transport/transport.interface';
import { temporaryTransport, type TemporaryTransportOptions } from './temporary-transport.factory';

export type { TemporaryTransportOptions } from './temporary-transport.factory';

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
    factory: (appOptions: ResolvedReliableMqOptions, wakeup: RelayWakeup) =>
      openTemporaryTransport(appOptions, wakeup, options),
    inject: [RELIABLE_MQ_OPTIONS, RelayWakeup],
  });
}

function openTemporaryTransport(
  appOptions: ResolvedReliableMqOptions,
  wakeup: RelayWakeup,
  options: TemporaryTransportOptions,
): Promise<Transport> {
  const configured = typeof appOptions.transport === 'function' ? undefined : appOptions.transport;
  const configuredTopics = configured && 'topics' in configured ? configured.topics : undefined;
  const factory = temporaryTransport(
    { ...options, topics: options.topics ?? configuredTopics },
    'withTemporaryTransport()',
  );
  return createTransport(appOptions, wakeup, factory);
}
