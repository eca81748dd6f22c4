import { Logger } from '@nestjs/common';
import { schedule, type ScheduledTask } from 'node-cron';
import type { DataSource } from 'typeorm';
import type { RelayOptions } from '../reliable-mq-options.interface';
import type { Transport, TransportMessage } from '../transport/transport.interface';
import { createOutboxStore } from './create-outbox-store';
import { errorText } from './error-text';
import type { OutboxMessage } from './outbox-message.entity';
import { resolveRelayOptions, type ResolvedRelayOptions } from './outbox-relay-options';
import { outboxRowToTransportMessage } from './outbox-row.codec';
import type { OutboxStore } from './outbox-store.interface';
import { retryBackoffMs } from './retry-backoff';

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

export interface OutboxRelayMetrics {
  /** Rows this relay leased. */
  claimed: number;
  /** Rows this relay marked sent after the broker confirmed them. */
  sent: number;
  /** Failed attempts recorded (rows that will be retried or became dead). */
  failed: number;
  /** Rows this relay moved to `dead` after maxAttempts. */
  dead: number;
  /** Rows confirmed by the broker whose lease another relay had taken meanwhile, so this relay did not mark them. */
  fenced: number;
  /** Claim rounds run, including empty ones. */
  rounds: number;
}

type RoundOutcome = 'empty' | 'sent' | 'failed';

/** Rows after which single sends of a failed batch stop: two failures in a row look like the broker, not a row. */
const ISOLATION_FAILURE_LIMIT = 2;
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
 * - Per-key order: a row is never claimed while an earlier row with the same key is unsent, and it is claimed only
 *   after the earlier row's confirm was recorded.
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
  /** Earliest next_attempt_at this relay gave a failed row in the current round. */
  private earliestRetryAt = Number.POSITIVE_INFINITY;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryTimerAt = Number.POSITIVE_INFINITY;
  private readonly counters: OutboxRelayMetrics = { claimed: 0, sent: 0, failed: 0, dead: 0, fenced: 0, rounds: 0 };

  constructor(init: OutboxRelayInit) {
    this.options = resolveRelayOptions(init.options);
    this.dataSource = init.dataSource;
    this.transport = init.transport;
    this.logger = init.logger ?? new Logger('OutboxRelay');
    this.clock = init.clock ?? Date.now;
    this.storeInstance = init.store;
  }

  get instanceId(): string {
    return this.options.instanceId;
  }

  /** Starts the sweep and cleanup jobs and drains what is already due. */
  start(): void {
    if (this.tasks.length > 0) return;
    this.stopping = false;
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
    this.clearRetryTimer();
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
    return { ...this.counters };
  }

  /** Rows waiting to be sent (including those backing off), across all relays. */
  pendingCount(): Promise<number> {
    return this.store().countPending();
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
    this.draining = this.drainLoop().finally(() => {
      this.draining = undefined;
      // A wake that arrived after the loop's last check would otherwise wait for the sweep.
      if (this.drainRequested && !this.stopping) this.wake();
    });
  }

  private async drainLoop(): Promise<void> {
    while (this.drainRequested && !this.stopping) {
      this.drainRequested = false;
      let outcome: RoundOutcome;
      try {
        outcome = await this.round();
      } catch (error) {
        // The database is unreachable or busy: wait for the next wake or sweep rather than spin.
        this.logger.warn(`Outbox relay round failed; retrying on the next sweep: ${errorText(error)}`);
        return;
      }
      // After a successful round, go on: more rows may be due, and each sent row may have released the next row of
      // its key. Only a round that finds nothing ends the drain. After a failed send the loop stops until the failed
      // rows' backoff ends (or the next wake or sweep), so an outage costs one attempt per backoff step, not a tight
      // loop of failing sends, while a brief hiccup delays rows by their backoff only.
      if (outcome === 'sent') this.drainRequested = true;
      if (outcome === 'failed') {
        this.scheduleRetryWake();
        return;
      }
    }
  }

  private scheduleRetryWake(): void {
    const at = this.earliestRetryAt;
    this.earliestRetryAt = Number.POSITIVE_INFINITY;
    if (!Number.isFinite(at) || this.stopping || at >= this.retryTimerAt) return;
    this.clearRetryTimer();
    this.retryTimerAt = at;
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = undefined;
        this.retryTimerAt = Number.POSITIVE_INFINITY;
        this.wake();
      },
      Math.max(0, at - this.clock()),
    );
    // The sweep keeps the relay going; this timer alone must not keep a process alive.
    this.retryTimer.unref();
  }

  private clearRetryTimer(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.retryTimerAt = Number.POSITIVE_INFINITY;
  }

  private async round(): Promise<RoundOutcome> {
    const now = this.clock();
    const rows = await this.store().claim({
      owner: this.instanceId,
      now,
      leaseUntil: now + this.options.leaseMs,
      limit: this.options.batchSize,
    });
    this.counters.rounds += 1;
    this.counters.claimed += rows.length;
    if (rows.length === 0) return 'empty';

    const sendable: Array<{ row: OutboxMessage; message: TransportMessage }> = [];
    const unreadable: OutboxMessage[] = [];
    for (const row of rows) {
      try {
        sendable.push({ row, message: outboxRowToTransportMessage(row) });
      } catch {
        unreadable.push(row);
      }
    }
    if (unreadable.length > 0) {
      // Only a hand-edited row can get here; it must not hold back the healthy rows claimed with it.
      await this.recordFailure(unreadable, new Error("The row's headers or tags column is not valid JSON."));
    }
    if (sendable.length === 0) return 'failed';

    try {
      await this.transport.publish(sendable.map((entry) => entry.message));
    } catch (error) {
      return this.isolateFailure(sendable, error);
    }
    await this.recordSent(sendable.map((entry) => entry.row));
    return unreadable.length > 0 ? 'failed' : 'sent';
  }

  /**
   * The whole batch counts as unconfirmed. Before recording that, its rows are tried one by one: otherwise one
   * row the broker always refuses would fail, and eventually kill, every healthy row claimed with it. Re-sending
   * rows the broker may already hold is safe, as it recognises their ids. A batch always holds at most one row per
   * key, so these single sends keep per-key order.
   */
  private async isolateFailure(
    batch: Array<{ row: OutboxMessage; message: TransportMessage }>,
    batchError: unknown,
  ): Promise<RoundOutcome> {
    if (batch.length === 1) {
      await this.recordFailure([batch[0]!.row], batchError);
      return 'failed';
    }
    const sent: OutboxMessage[] = [];
    const failed: Array<{ row: OutboxMessage; error: unknown }> = [];
    let failuresInARow = 0;
    let index = 0;
    for (; index < batch.length && failuresInARow < ISOLATION_FAILURE_LIMIT && !this.stopping; index += 1) {
      const { row, message } = batch[index]!;
      try {
        await this.transport.publish([message]);
        sent.push(row);
        failuresInARow = 0;
      } catch (error) {
        failed.push({ row, error });
        failuresInARow += 1;
      }
    }
    const untried = batch.slice(index).map((entry) => entry.row);
    if (sent.length > 0) await this.recordSent(sent);
    for (const { row, error } of failed) await this.recordFailure([row], error);
    if (untried.length > 0) await this.recordFailure(untried, batchError);
    // Every row went through one by one: the batch failure was passing, and the drain goes on.
    return failed.length === 0 && untried.length === 0 ? 'sent' : 'failed';
  }

  private async recordSent(rows: readonly OutboxMessage[]): Promise<void> {
    const marked = await this.store().markSent(
      this.instanceId,
      rows.map((row) => row.seq),
      this.clock(),
    );
    this.counters.sent += marked;
    if (marked < rows.length) {
      this.counters.fenced += rows.length - marked;
      this.logger.warn(
        `${rows.length - marked} confirmed outbox row(s) were not marked sent: their lease had passed to another relay, ` +
          'which will send them again (the broker drops the duplicates).',
      );
    }
  }

  private async recordFailure(rows: readonly OutboxMessage[], error: unknown): Promise<void> {
    const text = errorText(error);
    const now = this.clock();
    // Rows with the same failure count share one statement and one backoff.
    const byAttempts = new Map<number, OutboxMessage[]>();
    for (const row of rows) {
      const group = byAttempts.get(row.attempts) ?? [];
      group.push(row);
      byAttempts.set(row.attempts, group);
    }
    for (const [previousAttempts, group] of byAttempts) {
      const attempt = previousAttempts + 1;
      const dead = attempt >= this.options.maxAttempts;
      const nextAttemptAt = now + retryBackoffMs(attempt, this.options.backoffBaseMs, this.options.backoffMaxMs);
      const changed = await this.store().markFailed({
        owner: this.instanceId,
        seqs: group.map((row) => row.seq),
        previousAttempts,
        nextAttemptAt,
        dead,
        error: text,
      });
      if (!dead && changed > 0) this.earliestRetryAt = Math.min(this.earliestRetryAt, nextAttemptAt);
      this.counters.failed += changed;
      if (dead) {
        this.counters.dead += changed;
        if (changed > 0) {
          this.logger.error(
            `${changed} outbox row(s) failed ${attempt} time(s) and are now dead; later messages with the same keys wait ` +
              `until an operator retries or discards them. Last error: ${text}`,
          );
        }
      } else if (changed > 0) {
        this.logger.warn(
          `Sending ${changed} outbox row(s) failed (attempt ${attempt} of ${this.options.maxAttempts}); retrying later: ${text}`,
        );
      }
    }
  }
}
