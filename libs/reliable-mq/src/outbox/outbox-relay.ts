import { EscapingLogger } from '../logging/escaping-logger';
import { schedule, type ScheduledTask } from 'node-cron';
import type { DataSource } from 'typeorm';
import { MessagingTelemetry } from '../observability/messaging-telemetry';
import type { RelayOptions } from '../reliable-mq-options.interface';
import type { Transport } from '../transport/transport.interface';
import { BrokerAvailability } from './broker-availability';
import { ClaimSender, type Claim } from './claim-sender';
import { createOutboxStore } from './create-outbox-store';
import { errorText } from './error-text';
import { resolveRelayOptions, type ResolvedRelayOptions } from './outbox-relay-options';
import type { OutboxRelayStatus } from './outbox-relay-status';
import type { ClaimedRow, OutboxStore } from './outbox-store.interface';
import { RelayOutcomeRecorder, type OutboxRelayMetrics, type SendOutcome } from './relay-outcome-recorder';
import { RetryWake } from './retry-wake';

export type { OutboxRelayMetrics } from './relay-outcome-recorder';

/** What the relay logs through; Nest's Logger fits. */
export interface OutboxRelayLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface OutboxRelayInit {
  /** The DataSource holding `rmq_outbox`; initialised before `start()` or `wake()`. */
  dataSource: DataSource;
  transport: Transport;
  options?: RelayOptions;
  logger?: OutboxRelayLogger;
  /** Overrides the store chosen from the DataSource's type. */
  store?: OutboxStore;
  /** Source of epoch ms for leases, backoff and cleanup. */
  clock?: () => number;
}

const CLEANUP_CHUNK = 1000;

/**
 * Moves outbox rows to the broker.
 *
 * - `wake()` drains at once (the publisher calls it after a commit), so latency is a round trip, not a polling
 *   interval. Wakes coalesce: one drain loop runs at a time and repeats while rows keep coming.
 * - The sweep cron finds what no wake announced: rows written by other processes, left after a crash, or due after
 *   a backoff.
 * - A row is leased to this relay while it is being sent, and marked sent only while the lease is still its own,
 *   after the broker confirmed it. A relay that loses its lease may send a row again; the broker recognises the
 *   id, so the consumer sees it once.
 * - Per-key order: a row is claimed only together with every earlier unsent row of its key, and is sent only after
 *   the previous row of its key was confirmed (see `ClaimSender`). A hot key thus moves a batch of rows per claim,
 *   not one.
 * - An outage is not the rows' fault (see `BrokerAvailability`): while the transport is not connected nothing is
 *   claimed, and a send that fails because the broker could not be reached gives its rows back without counting an
 *   attempt or growing their backoff. The transport's connection news wakes the relay as soon as it can publish
 *   again. A row whose send was cut off may have reached the broker; it is sent again, and the broker's ids (or the
 *   consumers' dedup on RabbitMQ) absorb the copy.
 */
export class OutboxRelay {
  readonly options: ResolvedRelayOptions;
  private readonly dataSource: DataSource;
  private readonly transport: Transport;
  private readonly logger: OutboxRelayLogger;
  private readonly clock: () => number;
  private storeInstance: OutboxStore | undefined;

  private tasks: ScheduledTask[] = [];
  private stopping = false;
  private drainRequested = false;
  private drainScheduled = false;
  private draining: Promise<void> | undefined;
  private cleaning: Promise<number> | undefined;
  private readonly broker: BrokerAvailability;
  private readonly telemetry: MessagingTelemetry;
  private readonly retryWake: RetryWake;
  private readonly sender: ClaimSender;
  private readonly outcomes: RelayOutcomeRecorder;

  constructor(init: OutboxRelayInit) {
    this.options = resolveRelayOptions(init.options);
    this.dataSource = init.dataSource;
    this.transport = init.transport;
    this.logger = init.logger ?? new EscapingLogger('OutboxRelay');
    this.clock = init.clock ?? Date.now;
    this.storeInstance = init.store;
    this.telemetry = new MessagingTelemetry({ transportKind: this.transport.kind });
    this.broker = new BrokerAvailability({
      transport: this.transport,
      logger: this.logger,
      onBack: () => {
        if (!this.stopping) this.wake();
      },
      countWaiting: () => this.store().countPending(),
      clock: this.clock,
    });
    const isStopping = (): boolean => this.stopping;
    this.retryWake = new RetryWake({ wake: () => this.wake(), isStopping, clock: this.clock });
    this.sender = new ClaimSender({
      transport: this.transport,
      telemetry: this.telemetry,
      broker: this.broker,
      leaseMs: this.options.leaseMs,
      clock: this.clock,
      isStopping,
    });
    this.outcomes = new RelayOutcomeRecorder({
      store: () => this.store(),
      owner: this.options.instanceId,
      options: this.options,
      logger: this.logger,
      telemetry: this.telemetry,
      broker: this.broker,
      clock: this.clock,
      retryDueAt: (at) => this.retryWake.retryDueAt(at),
    });
  }

  get instanceId(): string {
    return this.options.instanceId;
  }

  /** True from `start()` to `stop()`: the sweep runs and wakes are served. */
  get running(): boolean {
    return this.tasks.length > 0 && !this.stopping;
  }

  /** Starts the sweep and cleanup jobs, listens for the transport's connection news, and drains what is due. */
  start(): void {
    if (this.tasks.length > 0) return;
    this.stopping = false;
    this.broker.start();
    this.tasks = [
      schedule(this.options.sweepCron, () => this.wake(), {
        name: `rmq-outbox-sweep:${this.instanceId}`,
        noOverlap: true,
      }),
      schedule(this.options.cleanupCron, () => this.runCleanup(), {
        name: `rmq-outbox-cleanup:${this.instanceId}`,
        noOverlap: true,
      }),
    ];
    this.wake();
  }

  /** Asks for a drain as soon as the event loop is free. Cheap and safe to call often. */
  wake(): void {
    if (this.stopping) return;
    this.drainRequested = true;
    if (this.draining || this.drainScheduled) return;
    this.drainScheduled = true;
    // Deferred so that the wakes of one burst of commits collapse into one round.
    setImmediate(() => {
      this.drainScheduled = false;
      this.startDrain();
    });
  }

  /** Drains until nothing is due or a round fails, and resolves when done. */
  async flush(): Promise<void> {
    if (this.stopping) return;
    this.drainRequested = true;
    this.startDrain();
    await this.draining;
  }

  /** Stops the jobs, waits for the round in flight, and hands back any lease this relay still holds. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.broker.stop();
    this.retryWake.clear();
    const tasks = this.tasks;
    this.tasks = [];
    // destroy() also removes the task from node-cron's process-wide registry.
    await Promise.all(tasks.map(async (task) => task.destroy()));
    await this.draining;
    await this.cleaning?.catch(() => undefined);
    if (!this.storeInstance && !this.dataSource.isInitialized) return;
    try {
      const released = await this.store().releaseLeases(this.instanceId);
      if (released > 0) this.logger.log(`Released ${released} outbox lease(s) of ${this.instanceId}.`);
    } catch (error) {
      this.logger.warn(
        `Could not release outbox leases of ${this.instanceId}; they expire on their own: ${errorText(error)}`,
      );
    }
  }

  metrics(): OutboxRelayMetrics {
    return this.outcomes.metrics();
  }

  /** Rows waiting to be sent (including those backing off), across all relays. */
  pendingCount(): Promise<number> {
    return this.store().countPending();
  }

  /**
   * Whether the broker can be reached, since when it cannot, and what waits in the outbox meanwhile (see
   * OutboxRelayStatus). Reads the outbox: one indexed statement, and a count of the pending rows during an outage.
   */
  async status(): Promise<OutboxRelayStatus> {
    const since = this.broker.disconnectedSince;
    const connected = this.transport.isConnected !== false && since === undefined;
    const [held, oldest] = await Promise.all([
      connected ? 0 : this.store().countPending(),
      this.store().oldestPendingCreatedAt(),
    ]);
    return {
      transportConnected: connected,
      disconnectedSince: since ?? null,
      rowsHeldForBroker: held,
      oldestPendingAgeMs: oldest === null ? null : Math.max(0, this.clock() - oldest),
    };
  }

  /** Deletes sent rows older than the retention, in chunks; resolves the number deleted. */
  cleanup(): Promise<number> {
    if (this.cleaning) return this.cleaning;
    const run = async (): Promise<number> => {
      const cutoff = this.clock() - this.options.retentionMs;
      let total = 0;
      for (;;) {
        const deleted = await this.store().deleteSentBefore(cutoff, CLEANUP_CHUNK);
        total += deleted;
        if (deleted < CLEANUP_CHUNK || this.stopping) return total;
      }
    };
    this.cleaning = run().finally(() => {
      this.cleaning = undefined;
    });
    return this.cleaning;
  }

  private runCleanup(): void {
    this.cleanup().then(
      (deleted) => {
        if (deleted > 0) this.logger.log(`Deleted ${deleted} sent outbox row(s) older than the retention.`);
      },
      (error: unknown) => this.logger.warn(`Outbox cleanup failed; the next run tries again: ${errorText(error)}`),
    );
  }

  private store(): OutboxStore {
    this.storeInstance ??= createOutboxStore(this.dataSource);
    return this.storeInstance;
  }

  private startDrain(): void {
    if (this.draining || this.stopping) return;
    // Whatever commit woke the relay, its rounds are not part of that request's trace.
    this.draining = this.telemetry
      .detached(() => this.drainLoop())
      .finally(() => {
        this.draining = undefined;
        // A wake that arrived after the loop's last check would otherwise wait for the sweep.
        if (this.drainRequested && !this.stopping) this.wake();
      });
  }

  /**
   * Claims and sends until a claim finds nothing or a send fails. One claim's rows are sent (and recorded) while the
   * next claim runs, when more is surely due: a full batch means a backlog, and a wake means a new commit. The next
   * claim cannot take a later row of a key whose row is still on its way (that row is leased and unsent), so per-key
   * order holds; at most one batch is being sent at a time.
   */
  private async drainLoop(): Promise<void> {
    let sending: Promise<SendOutcome> | undefined;
    try {
      for (;;) {
        let claimed: Claim = { rows: [], sendBy: 0, leaseUntil: 0 };
        let claimFailed = false;
        if (this.drainRequested && !this.stopping && !this.broker.isUnreachable()) {
          this.drainRequested = false;
          try {
            claimed = await this.claim();
          } catch (error) {
            // The database is unreachable or busy: wait for the next wake or sweep rather than spin.
            this.logger.warn(`Outbox relay round failed; retrying on the next sweep: ${errorText(error)}`);
            claimFailed = true;
          }
        }
        if (sending) {
          const outcome = await sending;
          sending = undefined;
          if (!(await this.afterSend(outcome, claimed.rows))) return;
        }
        if (claimFailed) return;
        if (this.stopping) {
          if (claimed.rows.length > 0) await this.outcomes.releaseUntried(claimed.rows);
          return;
        }
        if (claimed.rows.length === 0) {
          // Only a claim that finds nothing, with no confirm since that could have let more through, ends the drain.
          // While the broker is unreachable nothing is claimed; its return wakes the relay.
          if (this.drainRequested && !this.broker.isUnreachable()) continue;
          this.drainRequested = false;
          return;
        }
        sending = this.sendAndRecord(claimed).catch((error: unknown) => {
          this.logger.warn(`Outbox relay round failed; retrying on the next sweep: ${errorText(error)}`);
          return 'error' as const;
        });
        if (claimed.rows.length < this.options.batchSize && !this.drainRequested) {
          const outcome = await sending;
          sending = undefined;
          if (!(await this.afterSend(outcome, []))) return;
        } else {
          this.drainRequested = true;
        }
      }
    } finally {
      await sending;
    }
  }

  /**
   * What a finished send means for the loop: go on after a successful one (each confirmed row may have released the
   * next row of its key). After a failed send the loop stops until the failed rows' backoff ends (or the next wake or
   * sweep), so an outage costs one attempt per backoff step, not a tight loop of failing sends, while a brief hiccup
   * delays rows by their backoff only; rows claimed meanwhile are given back untried.
   */
  private async afterSend(outcome: SendOutcome, claimedMeanwhile: readonly ClaimedRow[]): Promise<boolean> {
    if (outcome === 'sent') {
      this.broker.reached();
      this.drainRequested = true;
      return true;
    }
    if (claimedMeanwhile.length > 0) await this.outcomes.releaseUntried(claimedMeanwhile);
    if (outcome === 'failed') this.retryWake.arm();
    if (outcome === 'unavailable') {
      // The transport's connection news wakes the relay; one that gives none is tried again after a pause.
      const pause = this.broker.retryPause();
      if (pause !== undefined) {
        this.retryWake.retryDueAt(this.clock() + pause);
        this.retryWake.arm();
      }
    }
    return false;
  }

  private async claim(): Promise<Claim> {
    const now = this.clock();
    const leaseUntil = now + this.options.leaseMs;
    const rows = await this.store().claim({
      owner: this.instanceId,
      now,
      leaseUntil,
      limit: this.options.batchSize,
      maxBytes: this.options.batchBytes,
    });
    this.outcomes.claimed(rows.length);
    // A publish starts only while at least half of the lease is left, so that a send begun in time ends, as a rule,
    // before another relay may take the rows over. Rows whose turn comes later (behind a slow batch, or in a late
    // wave) are given back and claimed afresh.
    return { rows, sendBy: leaseUntil - this.options.leaseMs / 2, leaseUntil };
  }

  /** Sends the claimed rows and records the outcome of each. */
  private async sendAndRecord(claim: Claim): Promise<SendOutcome> {
    return this.outcomes.record(await this.sender.send(claim));
  }
}
