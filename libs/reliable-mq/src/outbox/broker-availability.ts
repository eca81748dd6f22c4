import { isTransportUnavailable } from '../transport/transport-unavailability';
import type { Transport } from '../transport/transport.interface';
import { errorText } from './error-text';

/** What the relay logs through; Nest's Logger fits. */
interface AvailabilityLogger {
  log(message: string): void;
  warn(message: string): void;
}

export interface BrokerAvailabilityInit {
  transport: Transport;
  logger: AvailabilityLogger;
  /** Called when the transport reports a (new) connection: the relay drains what waited. */
  onBack: () => void;
  /** The outbox rows waiting to be sent, for the line that ends an outage. */
  countWaiting: () => Promise<number>;
  clock?: () => number;
}

/** First pause before trying again after an unreachable broker, when the transport will not say when it is back. */
const FIRST_PAUSE_MS = 250;
/** Longest such pause: the database work of a claim that can only fail is not worth doing more often. */
const LONGEST_PAUSE_MS = 5_000;

function duration(ms: number): string {
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1_000).toFixed(1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}

/**
 * Whether the relay's broker can be reached, as the relay needs to know it: an outage must cost the rows nothing.
 *
 * - While the transport reports no connection the relay claims nothing, and the transport's news of a new
 *   connection wakes it (`onBack`).
 * - A send that failed because the broker could not be reached is told apart from the broker's answers about the
 *   message (see `isTransportUnavailable`); its rows go back without an attempt.
 * - A transport that reports no state is tried again after a pause that grows while it stays unreachable.
 * - An outage runs from the first sign of it (the transport reports the connection lost, or a send could not reach
 *   the broker) to the first sign of the broker (the transport reports a connection, or a send is confirmed). It is
 *   logged twice, however many rounds it lasts: a warning when it starts, and a line when it ends with how long it
 *   lasted and how many outbox rows waited for it. `disconnectedSince` tells a probe the start.
 */
export class BrokerAvailability {
  private readonly transport: Transport;
  private readonly logger: AvailabilityLogger;
  private readonly clock: () => number;
  private stopListening: (() => void) | undefined;
  private downSince: number | undefined;
  private pauseMs = FIRST_PAUSE_MS;

  constructor(private readonly init: BrokerAvailabilityInit) {
    this.transport = init.transport;
    this.logger = init.logger;
    this.clock = init.clock ?? Date.now;
  }

  start(): void {
    this.stopListening ??= this.transport.onConnectionChange?.((connected) => {
      if (connected) {
        this.back();
        this.init.onBack();
      } else {
        this.down();
      }
    });
    // An application may start while its broker is away: the outage began before the relay did.
    if (this.transport.isConnected === false) this.down();
  }

  stop(): void {
    this.stopListening?.();
    this.stopListening = undefined;
  }

  /** When (epoch ms) the current outage began; undefined while the broker is taken to be reachable. */
  get disconnectedSince(): number | undefined {
    return this.downSince;
  }

  /** True while the transport reports that it cannot reach its broker. */
  isUnreachable(): boolean {
    const unreachable = this.transport.isConnected === false;
    if (unreachable) this.down();
    return unreachable;
  }

  /** True when a failed send says nothing about its messages: the broker could not be reached. */
  isUnavailability(error: unknown): boolean {
    return isTransportUnavailable(error, this.transport);
  }

  /** Rows go back unsent because the broker could not be reached. */
  heldBack(rows: number, error: unknown): void {
    this.down(`${rows} outbox row(s) could not be sent: ${errorText(error)}`);
  }

  /**
   * How long to wait before trying again after a send the broker could not take, or undefined when the transport's
   * connection news will wake the relay.
   */
  retryPause(): number | undefined {
    if (this.isUnreachable()) return undefined;
    const pause = this.pauseMs;
    this.pauseMs = Math.min(LONGEST_PAUSE_MS, this.pauseMs * 2);
    return pause;
  }

  /** A send went through: the broker is reachable, and the next failure starts the pauses afresh. */
  reached(): void {
    this.pauseMs = FIRST_PAUSE_MS;
    this.back();
  }

  private down(cause?: string): void {
    if (this.downSince !== undefined) return;
    this.downSince = this.clock();
    this.logger.warn(
      'The broker is unreachable: outbox rows wait in the database, with no attempt counted, and go out as soon as ' +
        `it is reachable again.${cause ? ` (${cause})` : ''}`,
    );
  }

  private back(): void {
    const since = this.downSince;
    if (since === undefined) return;
    this.downSince = undefined;
    const lasted = duration(Math.max(0, this.clock() - since));
    // Counted after the fact, off the path of the wake: the line may come a moment after the first sends.
    this.init.countWaiting().then(
      (rows) =>
        this.logger.log(
          `The broker is reachable again after ${lasted}: sending the ${rows} outbox row(s) that waited for it.`,
        ),
      (error: unknown) =>
        this.logger.log(
          `The broker is reachable again after ${lasted}: sending the outbox rows that waited for it (they could ` +
            `not be counted: ${errorText(error)}).`,
        ),
    );
  }
}
