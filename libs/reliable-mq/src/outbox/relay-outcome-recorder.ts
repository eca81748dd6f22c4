import { messagesLogFields } from '../logging/message-log-fields';
import type { MessagingTelemetry } from '../observability/messaging-telemetry';
import type { BrokerAvailability } from './broker-availability';
import type { ClaimSendResult } from './claim-sender';
import { errorText } from './error-text';
import type { ResolvedRelayOptions } from './outbox-relay-options';
import type { ClaimedRow, OutboxStore } from './outbox-store.interface';
import { retryBackoffMs } from './retry-backoff';

export interface OutboxRelayMetrics {
  /** Rows this relay leased. */
  claimed: number;
  /** Rows this relay marked sent after the broker confirmed them. */
  sent: number;
  /** Failed attempts recorded (rows that will be retried or became dead). */
  failed: number;
  /** Rows this relay moved to `dead` after maxAttempts. */
  dead: number;
  /** Rows given back without counting an attempt because the broker could not be reached. */
  heldForBroker: number;
  /** Rows confirmed by the broker whose lease another relay had taken meanwhile, so this relay did not mark them. */
  fenced: number;
  /** Claim rounds run, including empty ones. */
  rounds: number;
}

/**
 * `unavailable`: the broker could not be reached; the rows were given back without an attempt. `error`: the outcome
 * could not be recorded (the database failed); the rows' leases run out on their own.
 */
export type SendOutcome = 'sent' | 'failed' | 'unavailable' | 'error';

/** What the recorder logs through; the relay's logger. */
interface OutcomeLogger {
  warn(message: string): void;
  error(message: string): void;
}

export interface RelayOutcomeRecorderInit {
  /** The outbox store, created on first use (the DataSource may not be initialised when the relay is built). */
  store: () => OutboxStore;
  /** The relay's instance id: the lease owner every write is fenced on. */
  owner: string;
  options: ResolvedRelayOptions;
  logger: OutcomeLogger;
  telemetry: MessagingTelemetry;
  broker: BrokerAvailability;
  clock: () => number;
  /** A failed row may be tried again at `at` (epoch ms); the relay wakes for it (see `RetryWake`). */
  retryDueAt: (at: number) => void;
}

/**
 * Writes what became of a claim's rows back to the outbox, fenced on this relay's leases, and keeps the relay's
 * counters. A confirmed row is marked sent; a refused one counts an attempt and backs off, or becomes dead after
 * `maxAttempts`; a row the broker could not be reached for, or that was never tried, goes back as it was.
 */
export class RelayOutcomeRecorder {
  private readonly counters: OutboxRelayMetrics = {
    claimed: 0,
    sent: 0,
    failed: 0,
    dead: 0,
    heldForBroker: 0,
    fenced: 0,
    rounds: 0,
  };

  constructor(private readonly init: RelayOutcomeRecorderInit) {}

  metrics(): OutboxRelayMetrics {
    return { ...this.counters };
  }

  /** One claim round ran and leased `rows` rows (none is a round too). */
  claimed(rows: number): void {
    this.counters.rounds += 1;
    this.counters.claimed += rows;
  }

  /** Records every row of one sent claim, and says what the drain loop should make of it (see `SendOutcome`). */
  async record(result: ClaimSendResult): Promise<SendOutcome> {
    const { confirmed, unreadable, failures, untried, unavailable } = result;
    if (confirmed.length > 0) await this.recordSent(confirmed);
    if (unavailable) await this.holdForBroker(unavailable.rows, unavailable.error);
    if (unreadable.length > 0) {
      // Only a hand-edited row can get here; it must not hold back the healthy rows claimed with it.
      await this.recordFailure(unreadable, new Error("The row's headers or tags column is not valid JSON."));
    }
    for (const failure of failures) await this.recordFailure(failure.rows, failure.error);
    if (untried.length > 0) await this.releaseUntried(untried);
    if (unavailable) return 'unavailable';
    return unreadable.length > 0 || failures.length > 0 ? 'failed' : 'sent';
  }

  /** Rows held back behind a failed row of their key, or by a stop: leased but never tried, so no attempt counts. */
  async releaseUntried(rows: readonly ClaimedRow[]): Promise<void> {
    try {
      await this.init.store().release(
        this.init.owner,
        rows.map((row) => row.seq),
      );
    } catch (error) {
      this.init.logger.warn(
        `Could not give back ${rows.length} untried outbox lease(s); they expire on their own: ${errorText(error)}`,
      );
    }
  }

  /**
   * Rows whose send failed because the broker could not be reached: given back with their attempts and backoff as
   * they were, so that an outage, however long, kills no row. They are claimable at once, in their key's order.
   */
  private async holdForBroker(rows: readonly ClaimedRow[], error: unknown): Promise<void> {
    this.counters.heldForBroker += rows.length;
    this.init.telemetry.relayRows('held', rows.length);
    this.init.broker.heldBack(rows.length, error);
    await this.releaseUntried(rows);
  }

  private async recordSent(rows: readonly ClaimedRow[]): Promise<void> {
    const { telemetry, clock } = this.init;
    const marked = await this.init.store().markSent(
      this.init.owner,
      rows.map((row) => row.seq),
      clock(),
    );
    this.counters.sent += marked;
    telemetry.relayRows('sent', marked);
    telemetry.commitToSend(rows, clock());
    if (marked < rows.length) {
      this.counters.fenced += rows.length - marked;
      telemetry.relayRows('fenced', rows.length - marked);
      this.init.logger.warn(
        `${rows.length - marked} confirmed outbox row(s) were not marked sent: their lease had passed to another relay, ` +
          'which will send them again (the broker drops the duplicates).',
      );
    }
  }

  private async recordFailure(rows: readonly ClaimedRow[], error: unknown): Promise<void> {
    const { options, logger, telemetry } = this.init;
    const text = errorText(error);
    const now = this.init.clock();
    // Rows with the same failure count share one statement and one backoff.
    const byAttempts = new Map<number, ClaimedRow[]>();
    for (const row of rows) {
      const group = byAttempts.get(row.attempts) ?? [];
      group.push(row);
      byAttempts.set(row.attempts, group);
    }
    for (const [previousAttempts, group] of byAttempts) {
      const attempt = previousAttempts + 1;
      const dead = attempt >= options.maxAttempts;
      const nextAttemptAt = now + retryBackoffMs(attempt, options.backoffBaseMs, options.backoffMaxMs);
      const changed = await this.init.store().markFailed({
        owner: this.init.owner,
        seqs: group.map((row) => row.seq),
        previousAttempts,
        nextAttemptAt,
        dead,
        error: text,
      });
      if (!dead && changed > 0) this.init.retryDueAt(nextAttemptAt);
      this.counters.failed += changed;
      telemetry.relayRows(dead ? 'dead' : 'failed', changed);
      if (dead) {
        this.counters.dead += changed;
        if (changed > 0) {
          logger.error(
            `${changed} outbox row(s) failed ${attempt} time(s) and are now dead; later messages with the same keys wait ` +
              `until an operator retries or discards them. Last error: ${text}` +
              messagesLogFields(group),
          );
        }
      } else if (changed > 0) {
        logger.warn(
          `Sending ${changed} outbox row(s) failed (attempt ${attempt} of ${options.maxAttempts}); retrying later: ${text}` +
            messagesLogFields(group),
        );
      }
    }
  }
}
