import type { DataSource } from 'typeorm';
import type { Transport } from './transport.interface';

/** The logging a transport is lent: Nest's logger under the context name the transport asked for. */
export interface TransportLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string, stack?: string): void;
}

/** What the module hands a transport factory when the application starts. */
export interface TransportFactoryContext {
  /** The application's producer group (`forRoot({ producerGroup })`). */
  producerGroup: string;
  /** The application's DataSource, when it has one: the database of its outbox and inbox. */
  dataSource?: DataSource;
  /** A logger whose lines carry `context`, with control characters in them escaped. */
  logger(context: string): TransportLogger;
  /**
   * Tells the outbox relay to send at once rather than at its next sweep. A transport that writes outbox rows
   * itself calls it after each such commit: one whose transactional messages commit into the application's
   * database (as RabbitMQ's do) delivers them this way. Calls before the relay has started are dropped; its first
   * sweep finds those rows.
   */
  wakeRelay(): void;
}

/**
 * Creates the application's transport: `forRoot({ transport: (context) => new MyTransport(...) })`. Resolve it ready
 * for use, connected or connecting in the background (the module calls no `connect()`), and close nothing the
 * module owns: `close()` is called at shutdown. Built-in kinds (`{ kind: 'embedded' | 'remote' | 'rabbitmq' }`) are
 * factories too, chosen by their `kind`.
 */
export type TransportFactory = (context: TransportFactoryContext) => Transport | Promise<Transport>;

const REQUIRED_METHODS = ['ensureTopic', 'publish', 'subscribe', 'close'] as const;

/** Says what a factory's result lacks to be a Transport, or undefined when it has it all. */
export function transportShapeProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) {
    return `it resolved ${value === null ? 'null' : typeof value}, not a transport object`;
  }
  const candidate = value as Record<string, unknown>;
  if (typeof candidate.kind !== 'string' || candidate.kind === '') {
    return 'its transport has no `kind` (a short name such as "kafka", used in logs, metrics and spans)';
  }
  const missing = REQUIRED_METHODS.filter((name) => typeof candidate[name] !== 'function');
  if (missing.length > 0) return `its "${candidate.kind}" transport has no ${missing.join(', ')} method`;
  if (typeof candidate.deadLetters !== 'object' || candidate.deadLetters === null) {
    return `its "${candidate.kind}" transport has no \`deadLetters\` operations`;
  }
  return undefined;
}
