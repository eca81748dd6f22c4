import type { MessagingTelemetry } from '../observability/messaging-telemetry';
import type { Transport, TransportMessage } from '../transport/transport.interface';
import type { BrokerAvailability } from './broker-availability';
import { outboxRowToTransportMessage } from './outbox-row.codec';
import type { ClaimedRow } from './outbox-store.interface';
import { answeredBy } from './publish-deadline';

/** Rows leased by one claim, and the time after which none of them may start on its way to the broker. */
export interface Claim {
  rows: ClaimedRow[];
  sendBy: number;
  /** When the rows' lease ends; a publish not answered a lease (at least 5 s) later is given up (see `answeredBy`). */
  leaseUntil: number;
}

/** What became of each row of one claim, for the relay to record (see `RelayOutcomeRecorder.record`). */
export interface ClaimSendResult {
  /** Rows the broker confirmed. */
  confirmed: ClaimedRow[];
  /** Rows whose headers or tags column could not be read, so they were never sent. */
  unreadable: ClaimedRow[];
  /** Rows not confirmed, grouped by the error that stopped them. */
  failures: Array<{ rows: ClaimedRow[]; error: unknown }>;
  /** Rows not tried at all. */
  untried: ClaimedRow[];
  /** Rows whose send failed because the broker could not be reached, with the first such error. */
  unavailable?: { rows: ClaimedRow[]; error: unknown };
}

interface Outgoing {
  row: ClaimedRow;
  message: TransportMessage;
}

interface WaveResult {
  sent: ClaimedRow[];
  failures: Array<{ rows: ClaimedRow[]; error: unknown }>;
  untried: ClaimedRow[];
  unavailable?: { rows: ClaimedRow[]; error: unknown };
}

export interface ClaimSenderInit {
  transport: Transport;
  telemetry: MessagingTelemetry;
  broker: BrokerAvailability;
  /** The rows' lease length, which also bounds how long a publish is waited for (see `answeredBy`). */
  leaseMs: number;
  clock: () => number;
  /** True once the relay is stopping: no further row starts on its way. */
  isStopping: () => boolean;
}

/** Rows after which single sends of a failed batch stop: two failures in a row look like the broker, not a row. */
const ISOLATION_FAILURE_LIMIT = 2;
/** The least a publish is waited for past the rows' lease (see `answeredBy`), however short the lease. */
const MIN_LATE_ANSWER_MS = 5_000;

/** Splits claimed rows (in seq order) into waves: the n-th row of each key goes to wave n; keyless rows to wave 0. */
function toWaves(entries: readonly Outgoing[]): Outgoing[][] {
  const waves: Outgoing[][] = [];
  const rowsSeen = new Map<string, number>();
  for (const entry of entries) {
    let index = 0;
    if (entry.row.key !== null) {
      index = rowsSeen.get(entry.row.key) ?? 0;
      rowsSeen.set(entry.row.key, index + 1);
    }
    (waves[index] ??= []).push(entry);
  }
  return waves;
}

/**
 * Sends the rows of one claim to the broker, keeping per-key order, and says what became of each; it records
 * nothing in the outbox (the relay's `RelayOutcomeRecorder` does).
 *
 * A claim may hold several rows of one key, oldest first. They go out in waves: wave n carries the n-th row of each
 * key, and starts only once wave n − 1 is confirmed, so a row never reaches the broker before the previous row of its
 * key was confirmed, and each publish holds at most one row per key. Rows without a key all ride in the first wave.
 * After a wave with a failure no further wave is sent: the rows left are given back untried.
 */
export class ClaimSender {
  constructor(private readonly init: ClaimSenderInit) {}

  async send({ rows, sendBy, leaseUntil }: Claim): Promise<ClaimSendResult> {
    const sendable: Outgoing[] = [];
    const unreadable: ClaimedRow[] = [];
    const untried: ClaimedRow[] = [];
    // Keys with an unreadable row in this claim: their later rows must wait behind it.
    const broken = new Set<string>();
    for (const row of rows) {
      if (row.key !== null && broken.has(row.key)) {
        untried.push(row);
        continue;
      }
      try {
        sendable.push({ row, message: outboxRowToTransportMessage(row) });
      } catch {
        unreadable.push(row);
        if (row.key !== null) broken.add(row.key);
      }
    }

    const confirmed: ClaimedRow[] = [];
    const failures: Array<{ rows: ClaimedRow[]; error: unknown }> = [];
    const unavailable: ClaimedRow[] = [];
    let unavailableError: unknown;
    let halted = false;
    for (const wave of toWaves(sendable)) {
      const ready: Outgoing[] = [];
      for (const entry of wave) {
        if (halted || this.init.isStopping() || this.init.clock() > sendBy) untried.push(entry.row);
        else ready.push(entry);
      }
      if (ready.length === 0) continue;
      const result = await this.sendWave(ready, sendBy, leaseUntil);
      confirmed.push(...result.sent);
      failures.push(...result.failures);
      untried.push(...result.untried);
      if (result.unavailable) {
        unavailable.push(...result.unavailable.rows);
        unavailableError ??= result.unavailable.error;
      }
      if (result.failures.length > 0 || result.unavailable) halted = true;
    }
    return {
      confirmed,
      unreadable,
      failures,
      untried,
      unavailable: unavailable.length > 0 ? { rows: unavailable, error: unavailableError } : undefined,
    };
  }

  /**
   * Publishes one wave (at most one row per key). When the broker refuses the wave as a whole, its rows are tried one
   * by one before anything is recorded: otherwise one row the broker always refuses would fail, and eventually kill,
   * every healthy row claimed with it. Re-sending rows the broker may already hold is safe, as it recognises their
   * ids. After two failures in a row the rest of the wave is not tried: that looks like the broker, not a row. Nor is
   * it when the lease runs short (`sendBy`), or the relay stops; those rows are given back untried.
   */
  private async sendWave(wave: readonly Outgoing[], sendBy: number, leaseUntil: number): Promise<WaveResult> {
    const { transport, telemetry, broker, leaseMs, clock, isStopping } = this.init;
    const publish = (messages: TransportMessage[]): Promise<unknown> =>
      answeredBy(
        telemetry.publish(transport, messages, true),
        leaseUntil + Math.max(leaseMs, MIN_LATE_ANSWER_MS),
        clock,
        messages.length,
      );
    try {
      await publish(wave.map((entry) => entry.message));
      return { sent: wave.map((entry) => entry.row), failures: [], untried: [] };
    } catch (waveError) {
      const rows = wave.map((entry) => entry.row);
      // Unreachable is not refused: sending the rows one by one would only fail each of them the same way.
      if (broker.isUnavailability(waveError)) {
        return { sent: [], failures: [], untried: [], unavailable: { rows, error: waveError } };
      }
      if (wave.length === 1) return { sent: [], failures: [{ rows, error: waveError }], untried: [] };
      const sent: ClaimedRow[] = [];
      const failures: Array<{ rows: ClaimedRow[]; error: unknown }> = [];
      let failuresInARow = 0;
      let index = 0;
      for (; index < wave.length && failuresInARow < ISOLATION_FAILURE_LIMIT; index += 1) {
        if (isStopping() || clock() > sendBy) {
          return { sent, failures, untried: wave.slice(index).map((entry) => entry.row) };
        }
        const { row, message } = wave[index]!;
        try {
          await publish([message]);
          sent.push(row);
          failuresInARow = 0;
        } catch (error) {
          if (broker.isUnavailability(error)) {
            return { sent, failures, untried: [], unavailable: { rows: rows.slice(index), error } };
          }
          failures.push({ rows: [row], error });
          failuresInARow += 1;
        }
      }
      const rest = wave.slice(index).map((entry) => entry.row);
      if (rest.length > 0) failures.push({ rows: rest, error: waveError });
      return { sent, failures, untried: [] };
    }
  }
}
