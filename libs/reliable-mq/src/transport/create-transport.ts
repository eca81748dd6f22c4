import { ConfigurationError } from '../errors';
import { EscapingLogger } from '../logging/escaping-logger';
import type { ResolvedReliableMqOptions } from '../reliable-mq-options.resolver';
import type { RelayWakeup } from './relay-wakeup';
import { transportShapeProblem, type TransportFactory } from './transport-factory';
import type { Transport } from './transport.interface';

/**
 * Creates the application's transport through its factory (a built-in kind's, or the application's own), and
 * refuses, at startup, a result that is not a transport: the module would otherwise fail later, at the first
 * publish or subscription, far from the cause.
 */
export async function createTransport(
  options: ResolvedReliableMqOptions,
  wakeup: RelayWakeup,
  factory: TransportFactory = options.createTransport,
): Promise<Transport> {
  const transport: unknown = await factory({
    producerGroup: options.producerGroup,
    dataSource: options.dataSource,
    logger: (context) => new EscapingLogger(context),
    wakeRelay: () => wakeup.wake(),
  });
  const problem = transportShapeProblem(transport);
  if (problem) {
    await (transport as Partial<Transport> | null)?.close?.().catch(() => undefined);
    throw new ConfigurationError(
      `ReliableMqModule: the transport factory cannot be used: ${problem}. A factory resolves an object that ` +
        'implements Transport (kind, ensureTopic, publish, subscribe, deadLetters, close), ready for use.',
    );
  }
  return transport as Transport;
}
