/**
 * Whether the relay can reach its broker, and what waits in the outbox meanwhile: what a readiness probe, a metric or
 * the console shows of an outage. Read with `OutboxRelayService.status()`.
 */
export interface OutboxRelayStatus {
  /**
   * False while the transport reports no connection to its broker, or from a send that could not reach the broker
   * until the next sign of it (a reported connection or a confirmed send). True for a transport that reports no
   * state and has not failed so.
   */
  transportConnected: boolean;
  /** When (epoch ms) the current outage began, as the relay saw it; null while connected or when it is not running. */
  disconnectedSince: number | null;
  /** Pending outbox rows that wait because the broker cannot be reached: all pending rows during an outage, else 0. */
  rowsHeldForBroker: number;
  /** How long the oldest pending row has waited (ms), whatever the reason; null when none is pending. */
  oldestPendingAgeMs: number | null;
}
