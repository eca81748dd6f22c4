import type { HalfMessage, HalfMessageChecker } from '../engine.types';
import { InvalidArgumentError, TransactionNotFoundError, TransactionStateError } from '../errors';
import { detachedScope } from '../util/detached-scope';
import { validateName } from '../util/names';
import { askChecker, type CheckerAnswer } from './checker-answer';
import { CheckerSet } from './checker-set';
import type { ClaimedCheck, HalfMessageLedger } from './half-message-ledger';
import type { HalfMessageResolutions } from './half-message-resolutions';

/** Longest single timer wait; Node clamps larger values to 1 ms. */
const MAX_TIMER_MS = 2 ** 30;

export interface CheckbackSchedulerOptions {
  ledger: HalfMessageLedger;
  resolutions: HalfMessageResolutions;
  now(): number;
  /** Interval between two checks of one half message, and how long one checker call may take. */
  checkIntervalMs: number;
  /** Checks before an unanswered half message moves to the discarded list. */
  transactionCheckMax: number;
  /** Due half messages claimed per storage round trip. */
  batchSize: number;
  /**
   * Set when other processes write the same ledger: it is looked at at least this often, since their half messages
   * are due without this process hearing of them. Unset: only the due times this process knows wake it.
   */
  pollMs?: number;
  /** Set when the check loop also runs retention: a pass at most this often, run between two check passes. */
  retention?: { everyMs: number; run(): Promise<unknown> };
  onWarning(message: string): void;
  onError(error: Error): void;
  /** True for an error that only says the storage was closed under a late answer; such errors are not reported. */
  isClosedError?(error: unknown): boolean;
}

/**
 * The checkback of unresolved half messages, whatever stores them: first `transactionTimeoutMs` after sending
 * (the due time the ledger holds), then every `checkIntervalMs`, at most `transactionCheckMax` times; after the last
 * unanswered check the half message moves to the discarded list, where an operator commits or discards it.
 *
 * One timer, set to the earliest due check. A pass claims due half messages in the ledger (each check counted
 * once, whichever process claims it), asks the producer group's checkers round-robin, and applies the answer with
 * the same conditional transitions as the producer's own calls, so an answer racing a commit gives one delivery or
 * none. A checker that does not answer within `checkIntervalMs` counts as unknown; its decisive answer, if it comes
 * later, is still applied, since it is the producer's truth.
 */
export class CheckbackScheduler {
  private readonly checkers = new CheckerSet();
  /** Transactions whose checker call is still running, so a slow checker is not asked twice at once. */
  private readonly checking = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Number.POSITIVE_INFINITY;
  /** The earliest due time noted while the ledger was being asked for its own, which may not include it yet. */
  private notedAt = Number.POSITIVE_INFINITY;
  private running: Promise<void> | null = null;
  private started = false;
  private stopped = false;
  private retainedAt: number;
  /**
   * Checks run in the async context the scheduler was built in, not in that of the send that armed the timer, so a
   * producer's AsyncLocalStorage (a request scope, a held lock) never leaks into checkbacks of other messages.
   */
  private readonly detached = detachedScope();

  constructor(private readonly options: CheckbackSchedulerOptions) {
    this.retainedAt = options.now();
  }

  /** Arms the timer from the ledger, so checks left by a previous run resume. Idempotent. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.rearm();
  }

  /** A half message due for its first check at `at` was stored. */
  note(at: number): void {
    this.notedAt = Math.min(this.notedAt, at);
    if (this.started && !this.stopped && at < this.timerAt) this.arm(at);
  }

  /** Housekeeping hook: runs checks whose timer fired before a (test) clock reached their time. */
  fireIfDue(): void {
    if (this.timerAt <= this.options.now()) this.fire();
  }

  /** Stops checking and answering; resolves once the pass in progress has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.checkers.clear();
    await this.running?.catch(() => undefined);
  }

  register(producerGroup: string, checker: HalfMessageChecker): () => void {
    const group = validateName('group', producerGroup);
    if (typeof checker !== 'function') {
      throw new InvalidArgumentError(
        `A transaction checker of producer group "${group}" must be a function (half) => Promise<"commit" | "rollback" | "unknown">.`,
      );
    }
    return this.checkers.add(group, checker);
  }

  checkerCount(producerGroup: string): number {
    return this.checkers.size(producerGroup);
  }

  // ---------------------------------------------------------------- timing

  private arm(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    const poll = this.options.pollMs;
    const now = this.options.now();
    const when = poll === undefined ? at : Math.min(at, now + poll);
    this.timerAt = when;
    if (!Number.isFinite(when)) {
      this.timer = null;
      return;
    }
    this.timer = setTimeout(() => this.detached(() => this.fire()), Math.min(MAX_TIMER_MS, Math.max(0, when - now)));
    this.timer.unref();
  }

  private rearm(): void {
    if (this.stopped) return;
    // A polled ledger is looked at within pollMs anyway: asking it for its next due time too would double the
    // queries of an idle process for a check at most pollMs earlier.
    if (this.options.pollMs !== undefined) {
      this.arm(Number.POSITIVE_INFINITY);
      return;
    }
    this.notedAt = Number.POSITIVE_INFINITY;
    this.options.ledger.nextCheckAt().then(
      (at) => {
        if (!this.stopped && !this.running) this.arm(Math.min(at ?? Number.POSITIVE_INFINITY, this.notedAt));
      },
      (error: unknown) => {
        this.report(error);
        if (!this.stopped && !this.running) this.arm(this.options.now() + this.options.checkIntervalMs);
      },
    );
  }

  private fire(): void {
    if (this.running || this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Number.POSITIVE_INFINITY;
    this.running = this.pass()
      .catch((error: unknown) => this.report(error))
      .finally(() => {
        this.running = null;
        this.rearm();
      });
  }

  private async pass(): Promise<void> {
    const { ledger, checkIntervalMs, batchSize, retention } = this.options;
    if (retention && this.options.now() - this.retainedAt >= retention.everyMs) {
      this.retainedAt = this.options.now();
      await retention.run();
    }
    for (;;) {
      if (this.stopped) return;
      const now = this.options.now();
      const { due, claimed } = await ledger.claimDue(now, now + checkIntervalMs, batchSize, this.checking);
      if (this.stopped) return;
      for (const claim of claimed) this.check(claim);
      if (due < batchSize) return;
    }
  }

  // ---------------------------------------------------------------- asking

  /** One counted check of one half message; never throws. */
  private check({ half, warned }: ClaimedCheck): void {
    const { checkIntervalMs, transactionCheckMax } = this.options;
    const checker = this.checkers.next(half.producerGroup);
    if (!checker) {
      if (!warned) {
        this.options.onWarning(
          `No transaction checker is registered for producer group "${half.producerGroup}": half message ${half.txId} ` +
            `(topic "${half.topic}", message ${half.messageId}) stays unresolved and is checked again in ` +
            `${checkIntervalMs} ms (check ${half.checkCount} of ${transactionCheckMax}). ` +
            'Start an instance of that producer group with a checker, or commit or roll it back by hand.',
        );
        this.options.ledger.markWarned(half.txId).catch((error: unknown) => this.report(error));
      }
      void this.apply(half, {
        outcome: 'unknown',
        note: `no checker is registered for producer group "${half.producerGroup}"`,
      });
      return;
    }
    // Busy until the answer (or the timeout's unknown) is applied: a claim that runs in between postpones the check
    // instead of counting another and asking again, which would end in two answers for one half message.
    this.checking.add(half.txId);
    const done = (): void => void this.checking.delete(half.txId);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      void this.apply(half, {
        outcome: 'unknown',
        note: `the checker did not answer within ${checkIntervalMs} ms`,
      }).finally(done);
    }, checkIntervalMs);
    timer.unref();
    void askChecker(() => checker(half)).then((answer) => {
      if (answer.problem && !this.stopped) {
        this.options.onWarning(
          `The checker of producer group "${half.producerGroup}" on half message ${half.txId} ` +
            `(check ${half.checkCount} of ${transactionCheckMax}) ${answer.problem}. Counted as unknown.`,
        );
      }
      if (timedOut) {
        // A decisive answer that comes late is still the producer's truth; an unknown one was already counted.
        if (answer.outcome !== 'unknown') void this.apply(half, answer);
        return;
      }
      clearTimeout(timer);
      void this.apply(half, answer).finally(done);
    });
  }

  /** Applies a check's answer; never throws. */
  private async apply(half: HalfMessage, answer: CheckerAnswer): Promise<void> {
    if (this.stopped) return;
    const { resolutions, ledger, transactionCheckMax } = this.options;
    try {
      if (answer.outcome === 'commit') {
        await resolutions.commit(half.txId, 'checkback');
        return;
      }
      if (answer.outcome === 'rollback') {
        await resolutions.rollback(half.txId, 'rolled back by checkback', 'checkback');
        return;
      }
      if (half.checkCount < transactionCheckMax) return;
      const reason = `No answer after ${half.checkCount} checks; last check: ${answer.note}.`;
      // Resolved meanwhile (the producer answered): nothing to discard, and nothing to say.
      await ledger.transition(
        [{ txId: half.txId, from: ['unresolved'], to: 'discarded', by: null, reason }],
        this.options.now(),
        () => undefined,
      );
    } catch (error) {
      this.explainLateAnswer(half, answer, error);
    }
  }

  private explainLateAnswer(half: HalfMessage, answer: CheckerAnswer, error: unknown): void {
    if (error instanceof TransactionNotFoundError) {
      // Reachable only when an answer outlives the retention of its (discarded) record.
      this.options.onWarning(
        `A checkback answered ${answer.outcome} for half message ${half.txId}, but its record was already deleted ` +
          '(halfMessageRetentionMs); the answer is ignored and nothing is delivered.',
      );
      return;
    }
    if (error instanceof TransactionStateError) {
      this.options.onWarning(
        `A checkback answered ${answer.outcome} for half message ${half.txId}, but it was already ${error.state.replace('_', ' ')}; the first answer stands. ` +
          `The checker of producer group "${half.producerGroup}" disagrees with its producer: check how it reads local state.`,
      );
      return;
    }
    this.report(error);
  }

  private report(error: unknown): void {
    if (this.stopped || this.options.isClosedError?.(error)) return;
    this.options.onError(error instanceof Error ? error : new Error(String(error)));
  }
}
