import {
  ConflictException,
  Inject,
  Injectable,
  Logger,
  NotFoundException,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { AuditLog } from '../audit/audit-log.service';
import { CONSOLE_OPTIONS, CONSOLE_STORE } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import type { ConsolePrincipal } from '../http/console-request';
import type { ConsoleStore } from '../store/console-store';
import { RetryJobStore, type RetryJobRecord } from './retry-job.store';

export type { RetryJobState } from './retry-job.store';

/**
 * A bulk retry as the API shows it: the stored record without its cursor, plus the letters not sent yet (what a
 * resume would go through). `state` is `running` in this console; `interrupted` when the console stopped halfway (an
 * operator may resume it); `done`, `cancelled` or `failed` once finished. `skipped` counts letters no longer dead
 * when their turn came (resent or discarded by someone else meanwhile).
 */
export type RetryJobView = Omit<RetryJobRecord, 'cursor'> & { remaining: number };

export interface NewRetryJob {
  ids: number[];
  ratePerSec: number;
  scope: string;
  reason: string | null;
  principal: ConsolePrincipal;
  /** Details for the audit entry of the start, e.g. the filter and how many were older than the dedup window. */
  details: Record<string, unknown>;
}

/** A job sending in this process: its stored record, kept current in memory, and its list. */
interface ActiveJob {
  record: RetryJobRecord;
  ids: readonly number[];
  done: Promise<void>;
}

/** Letters resent in one broker call at most; a failing chunk is retried one by one to find the culprit. */
const MAX_CHUNK = 100;
/** After this many failures in a row the broker is taken to be down and the job stops as `failed`. */
const MAX_CONSECUTIVE_FAILURES = 10;
/** Finished jobs kept for the jobs list. */
const KEEP_FINISHED = 100;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Bulk retries: resends a fixed list of dead letters at a rate limit (a token bucket holding at most one second
 * of sends), with progress anyone can read and a cancel that stops it between two sends. The list is fixed when
 * the job starts, so "all matching" means the letters that matched then.
 *
 * Jobs live in the console's store: the list when they start, the cursor and counters after every chunk. A job
 * that was running when its console stopped (shut down, or found `running` by the next console to open the
 * store) becomes `interrupted`, and stays so until an operator resumes or cancels it; it is never resumed
 * automatically. Resuming continues from the cursor; a letter of the last chunk that was sent before a crash is
 * not dead any more and is counted as skipped, not sent again. One console process per store file.
 */
@Injectable()
export class RetryJobService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('ReliableMqConsole');
  private readonly active = new Map<string, ActiveJob>();
  private readonly store: RetryJobStore;

  constructor(
    @Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions,
    private readonly audit: AuditLog,
    @Inject(CONSOLE_STORE) consoleStore: ConsoleStore,
  ) {
    this.store = new RetryJobStore(consoleStore);
  }

  /** Jobs the store still calls `running` belong to a console that stopped without finishing them. */
  onModuleInit(): void {
    for (const job of this.store.interruptRunning(this.options.now())) this.recordInterrupted(job, 'start');
  }

  start(request: NewRetryJob): RetryJobView {
    this.ensureRoom();
    const now = this.options.now();
    const record: RetryJobRecord = {
      id: randomUUID(),
      state: 'running',
      scope: request.scope,
      reason: request.reason,
      createdBy: request.principal.name,
      createdAt: now,
      updatedAt: now,
      finishedAt: null,
      interruptedAt: null,
      resumedAt: null,
      resumedBy: null,
      ratePerSec: request.ratePerSec,
      total: request.ids.length,
      cursor: 0,
      resent: 0,
      skipped: 0,
      failed: 0,
      lastError: null,
      cancelledBy: null,
    };
    const ids = [...request.ids];
    this.store.insert(record, ids);
    this.audit.record({
      actor: request.principal.name,
      role: request.principal.role,
      action: 'dead-letters.bulk-retry',
      target: request.scope,
      count: record.total,
      reason: request.reason,
      outcome: 'ok',
      details: { job: record.id, ratePerSec: record.ratePerSec, ids: ids.slice(0, 1000), ...request.details },
    });
    this.store.pruneFinished(KEEP_FINISHED);
    this.launch(record, ids);
    return view(record);
  }

  get(id: string): RetryJobView {
    return view(this.find(id));
  }

  /** Every kept job, newest first: running and interrupted ones, and the last finished ones. */
  list(): RetryJobView[] {
    return this.store.list().map((stored) => view(this.active.get(stored.id)?.record ?? stored));
  }

  /**
   * Stops a running job between two sends, or closes an interrupted one for good: what was sent stays sent, the
   * rest stays dead.
   */
  cancel(id: string, principal: ConsolePrincipal): RetryJobView {
    const job = this.find(id);
    const active = this.active.get(id);
    if (job.state === 'running' && !active) throw this.elsewhere(job);
    if (job.state !== 'running' && job.state !== 'interrupted') {
      throw new ConflictException(
        `Bulk retry ${id} is already ${job.state}; only a running or interrupted one can be cancelled.`,
      );
    }
    const now = this.options.now();
    const wasInterrupted = job.state === 'interrupted';
    if (wasInterrupted && !this.store.transition(id, 'interrupted', 'cancelled', now)) throw this.changed(id);
    job.state = 'cancelled';
    job.cancelledBy = principal.name;
    job.updatedAt = now;
    this.audit.record({
      actor: principal.name,
      role: principal.role,
      action: 'dead-letters.bulk-retry.cancel',
      target: job.scope,
      count: job.total - job.cursor,
      outcome: 'ok',
      details: { job: job.id, resentBeforeCancel: job.resent, ...(wasInterrupted ? { wasInterrupted: true } : {}) },
    });
    if (wasInterrupted) {
      // Nothing is sending it: it finishes now. A running one finishes when its loop stops, after this send.
      job.finishedAt = now;
      this.store.finish(job);
      this.recordFinished(job);
      this.store.pruneFinished(KEEP_FINISHED);
    } else {
      this.store.save(job);
    }
    return view(job);
  }

  /**
   * Continues an interrupted job from its cursor, at its rate, in this console. Letters that are not dead any
   * more (sent before the interruption, or by someone else since) are skipped, as always.
   */
  resume(id: string, principal: ConsolePrincipal): RetryJobView {
    const job = this.find(id);
    if (job.state !== 'interrupted') {
      throw new ConflictException(
        `Bulk retry ${id} is ${job.state}; only an interrupted bulk retry can be resumed.` +
          (job.state === 'running' ? ' It is still sending.' : ' It has finished; start a new bulk retry instead.'),
      );
    }
    this.ensureRoom();
    const ids = this.store.ids(id);
    const now = this.options.now();
    if (!this.store.transition(id, 'interrupted', 'running', now)) throw this.changed(id);
    const record: RetryJobRecord = {
      ...job,
      state: 'running',
      updatedAt: now,
      resumedAt: now,
      resumedBy: principal.name,
    };
    this.store.save(record);
    this.audit.record({
      actor: principal.name,
      role: principal.role,
      action: 'dead-letters.bulk-retry.resume',
      target: record.scope,
      count: record.total - record.cursor,
      reason: record.reason,
      outcome: 'ok',
      details: {
        job: record.id,
        total: record.total,
        cursor: record.cursor,
        resentBefore: record.resent,
        skippedBefore: record.skipped,
        failedBefore: record.failed,
        ratePerSec: record.ratePerSec,
      },
    });
    this.launch(record, ids);
    return view(record);
  }

  /** Resolves when the job has stopped sending (finished, cancelled, failed or interrupted). */
  async settled(id: string): Promise<RetryJobView> {
    const active = this.active.get(id);
    if (active) {
      await active.done;
      return view(active.record);
    }
    return view(this.find(id));
  }

  /** A shutdown stops every running job after its current send and leaves it `interrupted`, to be resumed. */
  async onModuleDestroy(): Promise<void> {
    const running = [...this.active.values()].filter((job) => job.record.state === 'running');
    for (const job of running) job.record.state = 'interrupted';
    await Promise.all(running.map((job) => job.done));
  }

  private find(id: string): RetryJobRecord {
    const job = this.active.get(id)?.record ?? this.store.get(id);
    if (!job) throw new NotFoundException(`There is no bulk retry ${id}.`);
    return job;
  }

  private ensureRoom(): void {
    const running = [...this.active.values()].filter((job) => job.record.state === 'running').length;
    if (running >= this.options.retry.maxConcurrentJobs) {
      throw new ConflictException(
        `${running} bulk retries are running, the most allowed at once; wait for one to finish or cancel it.`,
      );
    }
  }

  private elsewhere(job: RetryJobRecord): ConflictException {
    return new ConflictException(
      `Bulk retry ${job.id} is running in another console process on the same store file; act on it there.`,
    );
  }

  private changed(id: string): ConflictException {
    return new ConflictException(`Bulk retry ${id} was changed by another request meanwhile; reload and try again.`);
  }

  private launch(record: RetryJobRecord, ids: readonly number[]): void {
    const job: ActiveJob = { record, ids, done: Promise.resolve() };
    this.active.set(record.id, job);
    job.done = this.run(job)
      .catch((error: unknown) => {
        // The store itself failed (disk full, file gone): say so, and leave what it holds to the next start.
        this.logger.error(`Bulk retry ${record.id} stopped: ${error instanceof Error ? error.message : String(error)}`);
        record.state = 'failed';
        record.lastError = error instanceof Error ? error.message : String(error);
      })
      .finally(() => this.active.delete(record.id));
  }

  private async run(job: ActiveJob): Promise<void> {
    const record = job.record;
    // Rate limiting uses the monotonic clock: the options' clock may be pinned in tests and is for timestamps.
    let tokens = 1;
    let last = performance.now();
    let failuresInARow = 0;
    while (record.state === 'running' && record.cursor < job.ids.length) {
      const now = performance.now();
      tokens = Math.min(Math.max(1, record.ratePerSec), tokens + ((now - last) / 1000) * record.ratePerSec);
      last = now;
      const count = Math.min(Math.floor(tokens), MAX_CHUNK, job.ids.length - record.cursor);
      if (count < 1) {
        await sleep(Math.max(1, Math.ceil(((1 - tokens) / record.ratePerSec) * 1000)));
        continue;
      }
      tokens -= count;
      const failedBefore = record.failed;
      const chunk = job.ids.slice(record.cursor, record.cursor + count);
      record.cursor += await this.resend(record, chunk);
      failuresInARow = record.failed > failedBefore ? failuresInARow + (record.failed - failedBefore) : 0;
      if (failuresInARow >= MAX_CONSECUTIVE_FAILURES) record.state = 'failed';
      // Progress is written once per chunk: a crash loses at most this chunk's counters, never a letter.
      record.updatedAt = this.options.now();
      this.store.save(record);
    }
    const now = this.options.now();
    record.updatedAt = now;
    if (record.state === 'interrupted') {
      record.interruptedAt = now;
      this.store.save(record);
      this.recordInterrupted(record, 'shutdown');
      return;
    }
    if (record.state === 'running') record.state = 'done';
    record.finishedAt = now;
    this.store.finish(record);
    this.recordFinished(record);
    this.store.pruneFinished(KEEP_FINISHED);
  }

  /** Sends a chunk; resolves with how many of its letters were gone through (fewer when stopped halfway). */
  private async resend(record: RetryJobRecord, chunk: number[]): Promise<number> {
    const deadLetters = this.options.broker.transport.deadLetters;
    try {
      record.resent += (await deadLetters.resend(chunk)).length;
      return chunk.length;
    } catch (error) {
      if (chunk.length === 1) {
        this.countFailure(record, error);
        return 1;
      }
    }
    for (const [index, id] of chunk.entries()) {
      // Stopped halfway through a chunk: the rest of it was not sent.
      if (record.state !== 'running') return index;
      try {
        record.resent += (await deadLetters.resend([id])).length;
      } catch (error) {
        this.countFailure(record, error);
      }
    }
    return chunk.length;
  }

  private countFailure(record: RetryJobRecord, error: unknown): void {
    if ((error as { code?: unknown } | null)?.code === 'DEAD_LETTER_NOT_FOUND') {
      record.skipped += 1;
    } else {
      record.failed += 1;
      record.lastError = error instanceof Error ? error.message : String(error);
    }
  }

  private recordInterrupted(job: RetryJobRecord, when: 'shutdown' | 'start'): void {
    this.audit.record({
      actor: job.createdBy,
      role: 'system',
      action: 'dead-letters.bulk-retry.interrupted',
      target: job.scope,
      count: job.total - job.cursor,
      reason: job.reason,
      outcome: 'interrupted',
      details: {
        job: job.id,
        // `start`: the console that ran it stopped without saying so; its last chunk may have been sent.
        foundAt: when,
        total: job.total,
        resent: job.resent,
        skipped: job.skipped,
        failed: job.failed,
        notSent: job.total - job.cursor,
      },
    });
  }

  private recordFinished(job: RetryJobRecord): void {
    this.audit.record({
      actor: job.createdBy,
      role: 'system',
      action: 'dead-letters.bulk-retry.finished',
      target: job.scope,
      count: job.resent,
      reason: job.reason,
      outcome:
        job.state === 'done' ? (job.failed > 0 ? 'partial' : 'ok') : job.state === 'cancelled' ? 'cancelled' : 'failed',
      details: {
        job: job.id,
        total: job.total,
        resent: job.resent,
        skipped: job.skipped,
        failed: job.failed,
        notAttempted: job.total - job.cursor,
        lastError: job.lastError,
        cancelledBy: job.cancelledBy,
        ...(job.resumedAt !== null ? { resumedBy: job.resumedBy, resumedAt: job.resumedAt } : {}),
      },
    });
  }
}

function view(job: RetryJobRecord): RetryJobView {
  return {
    id: job.id,
    state: job.state,
    scope: job.scope,
    reason: job.reason,
    createdBy: job.createdBy,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    finishedAt: job.finishedAt,
    interruptedAt: job.interruptedAt,
    resumedAt: job.resumedAt,
    resumedBy: job.resumedBy,
    ratePerSec: job.ratePerSec,
    total: job.total,
    resent: job.resent,
    skipped: job.skipped,
    failed: job.failed,
    remaining: job.total - job.cursor,
    lastError: job.lastError,
    cancelledBy: job.cancelledBy,
  };
}
