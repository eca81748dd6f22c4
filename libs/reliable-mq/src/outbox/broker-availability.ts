import { isTransportUnavailable } from '../transport/transport-unavailability';
import type { Transport } from '../transport/transport.interface';
import { errorText } from './error-text';

/** What the relay logs through; Nest's Logger fits. */
interface AvailabilityLogger {
  log(message: string): void;
  warn(message: string): void;
}

/** First pause before trying again after an unreachable broker, when the transport will not say when it is back. */
const FIRST_PAUSE_MS = 250;
/** Longest such pause: the database work of a claim that can only fail is not worth doing more often. */
const LONGEST_PAUSE_MS = 5_000;

/**
 * Whether the relay's broker can be reached, as the relay needs to know it: an outage must cost the rows nothing.
 *
 * - While the transport reports no connection the relay claims nothing, and the transport's news of a new
 *   connection wakes it (`onBack`).
 * - A send that failed because the broker could not be reached is told apart from the broker's answers about the
 *   message (see `isTransportUnavailable`); its rows go back without an attempt.
 * - A transport that reports no state is tried again after a pause that grows while it stays unreachable.
 * - Each outage is logged once when it starts and once when it ends, however many rounds it lasts.
 */
export class BrokerAvailability {
  private stopListening: (() => void) | undefined;
  private waiting = false;
  private failureLogged = false;
  private pauseMs = FIRST_PAUSE_MS;

  constructor(
    private readonly transport: Transport,
    private readonly logger: AvailabilityLogger,
    private readonly onBack: () => void,
  ) {}

  start(): void {
    this.stopListening ??= this.transport.onConnectionChange?.((connected) => {
      if (connected) this.onBack();
    });
  }

  stop(): void {
    this.stopListening?.();
    this.stopListening = undefined;
  }

  /** True while the transport reports that it cannot reach its broker; the log hears when that changes. */
  isUnreachable(): boolean {
    const unreachable = this.transport.isConnected === false;
    if (unreachable !== this.waiting) {
      this.waiting = unreachable;
      if (unreachable) {
        this.logger.warn(
          'Not connected to the broker: outbox rows wait in the database, with no attempt counted, and go out as ' +
            'soon as it is reachable again.',
        );
      } else {
        this.logger.log('Connected to the broker: sending the outbox rows that waited for it.');
      }
    }
    return unreachable;
  }

  /** True when a failed send says nothing about its messages: the broker could not be reached. */
  isUnavailability(error: unknown): boolean {
    return isTransportUnavailable(error, this.transport);
  }

  /** Rows go back unsent because the broker could not be reached. */
  heldBack(rows: number, error: unknown): void {
    if (this.waiting || this.failureLogged) return;
    this.failureLogged = true;
    this.logger.warn(
      `The broker could not be reached while sending ${rows} outbox row(s); they are sent again once it can be, ` +
        `with no attempt counted: ${errorText(error)}`,
    );
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

  /** A send went through: the next outage is news again. */
  reached(): void {
    this.failureLogged = false;
    this.pauseMs = FIRST_PAUSE_MS;
  }
}
