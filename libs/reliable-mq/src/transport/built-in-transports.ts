import type { EmbeddedTransportOptions, TransportOptions } from '../reliable-mq-options.interface';
import { EmbeddedTransport } from './embedded.transport';
import { resolveRabbitMqOptions } from './rabbitmq/rabbitmq-options.resolver';
import type { RabbitMqTransportOptions } from './rabbitmq/rabbitmq-transport-options';
import { RabbitMqTransport } from './rabbitmq/rabbitmq.transport';
import { RemoteTransport } from './remote/remote.transport';
import { resolveRemoteTransportOptions, type RemoteTransportOptions } from './remote/remote-transport-options';
import { startTransport } from './start-transport';
import type { TransportFactory, TransportFactoryContext } from './transport-factory';

/** One built-in transport: how its options are checked at startup, and how it is created from them. */
interface BuiltInTransport<Options> {
  /** Throws through `fix` (one sentence saying what to change) on options that cannot work. */
  check(options: Options, fix: (problem: string) => never): void;
  create(options: Options, context: TransportFactoryContext): ReturnType<TransportFactory>;
}

/** The options of the embedded transport: a name outside these is a typo that would otherwise change nothing. */
const EMBEDDED_OPTION_NAMES: ReadonlyArray<keyof EmbeddedTransportOptions> = [
  'kind',
  'dataDir',
  'sharedEngine',
  'thread',
  'flush',
  'topics',
  'engine',
];

const embedded: BuiltInTransport<EmbeddedTransportOptions> = {
  check(options, fix) {
    const unknown = Object.keys(options).filter((name) => !(EMBEDDED_OPTION_NAMES as readonly string[]).includes(name));
    if (unknown.length > 0) {
      fix(
        `transport has no option ${unknown.map((name) => JSON.stringify(name)).join(', ')} for kind "embedded"; its options are ${EMBEDDED_OPTION_NAMES.join(', ')}.`,
      );
    }
    if (!options.sharedEngine && (typeof options.dataDir !== 'string' || options.dataDir.trim() === '')) {
      fix('transport.dataDir must be the directory for the embedded broker data, e.g. "./data/broker".');
    }
    if (options.flush !== undefined && options.flush !== 'sync' && options.flush !== 'async') {
      fix(`transport.flush must be "sync" or "async"; got ${JSON.stringify(options.flush)}.`);
    }
    if (options.thread !== undefined && options.thread !== 'main' && options.thread !== 'worker') {
      fix(`transport.thread must be "main" or "worker"; got ${JSON.stringify(options.thread)}.`);
    }
    if (options.thread !== undefined && options.sharedEngine) {
      fix(
        'transport.thread does not apply to a sharedEngine: open a WorkerEngine or a BrokerEngine yourself and share it.',
      );
    }
  },
  async create(options, context) {
    const logger = context.logger('ReliableMqBroker');
    const transport = new EmbeddedTransport(
      options,
      (error) => logger.error(error.message, error.stack),
      (message) => logger.warn(message),
    );
    await transport.connect();
    return transport;
  },
};

const remote: BuiltInTransport<RemoteTransportOptions> = {
  check(options, fix) {
    resolveRemoteTransportOptions(options, fix);
  },
  async create(options, context) {
    const logger = context.logger('ReliableMqBroker');
    const transport = new RemoteTransport(options, {
      onError: (error) => logger.error(error.message, error.stack),
      onWarning: (message) => logger.warn(message),
    });
    await startTransport(transport, {
      waitForConnection: options.waitForConnection === true,
      broker: `the broker at ${transport.url}`,
      logger,
    });
    return transport;
  },
};

const rabbitmq: BuiltInTransport<RabbitMqTransportOptions> = {
  check(options) {
    // Throws ConfigurationError with one sentence per problem; RABBITMQ_URL stands in for a missing url.
    resolveRabbitMqOptions(options);
  },
  async create(options, context) {
    // With a dataSource, transactional messages keep their half records in it and commit through the outbox,
    // which the relay is told to send at once.
    const transport = new RabbitMqTransport(options, {
      logger: context.logger('ReliableMqRabbitMq'),
      dataSource: context.dataSource,
    });
    transport.onHalfCommitted = () => context.wakeRelay();
    await startTransport(transport, {
      waitForConnection: transport.options.waitForConnection,
      broker: `RabbitMQ at ${transport.options.safeUrl}`,
      logger: context.logger('ReliableMqBroker'),
    });
    return transport;
  },
};

const BUILT_IN: { [Kind in TransportOptions['kind']]: BuiltInTransport<Extract<TransportOptions, { kind: Kind }>> } = {
  embedded,
  remote,
  rabbitmq,
};

export const BUILT_IN_TRANSPORT_KINDS = Object.keys(BUILT_IN) as ReadonlyArray<TransportOptions['kind']>;

function builtIn(kind: unknown): BuiltInTransport<TransportOptions> | undefined {
  return Object.hasOwn(BUILT_IN, kind as string)
    ? (BUILT_IN[kind as TransportOptions['kind']] as BuiltInTransport<TransportOptions>)
    : undefined;
}

/** Checks built-in transport options at startup; false when `kind` names no built-in transport. */
export function checkBuiltInTransport(options: TransportOptions, fix: (problem: string) => never): boolean {
  const transport = builtIn(options.kind);
  if (!transport) return false;
  transport.check(options, fix);
  return true;
}

/** The factory of a built-in transport kind; its options were checked by `checkBuiltInTransport`. */
export function builtInTransportFactory(options: TransportOptions): TransportFactory {
  const transport = builtIn(options.kind);
  if (!transport) throw new TypeError(`No built-in transport of kind ${JSON.stringify(options.kind)}.`);
  return (context) => transport.create(options, context);
}
