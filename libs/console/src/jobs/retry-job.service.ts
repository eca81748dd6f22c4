import { ConflictException, Inject, Injectable, NotFoundException, type OnModuleDestroy } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { AuditLog } from '../audit/audit-log.service';
import { CONSOLE_OPTIONS } from '../console.constants';
import type { ResolvedConsoleOptions } from '../console-options.resolver';
import type { ConsolePrincipal } from '../http/console-request';

export type RetryJobState = 'running' | 'done' | 'cancelled' | 'failed';

export interface RetryJobView {
  id: string;
  state: RetryJobState;
  /** What was asked for: the selection or the filter, in words. */
  scope: string;
  reason: string | null;
  createdBy: string;
  createdAt: number;
  finishedAt: number | null;
  ratePerSec: number;
  total: number;
  resent: number;
  /** No longer dead when their turn came (resent or discarded by someone else meanwhile). */
  skipped: number;
  failed: number;
  remaining: number;
  lastError: string | null;
  cancelledBy: string | null;
}

export interface NewRetryJob {
  ids: number[];
  ratePerSec: number;
  scope: string;
  reason: string | null;
  principal: ConsolePrincipal;
  /** Details for the audit entry of the start, e.g. the filter and how many were older than the dedup window. */
  details: Record<string, unknown>;
}

interface RetryJob extends RetryJobView {
  ids: number[];
  cursor: number;
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
 * the job starts, so "all matching" means the letters that matched then. Jobs live in memory; the audit log keeps
 * their start and end.
 */
@Injectable()
export class RetryJobService implements OnModuleDestroy {
  private readonly jobs = new Map<string, RetryJob>();

  constructor(
    @Inject(CONSOLE_OPTIONS) private readonly options: ResolvedConsoleOptions,
    private readonly audit: AuditLog,
  ) {}

  start(request: NewRetryJob): RetryJobView {
    const running = [...this.jobs.values()].filter((job) => job.state === 'running').length;
    if (running >= this.options.retry.maxConcurrentJobs) {
      throw new ConflictException(
        `${running} bulk retries are running, the most allowed at once; wait for one to finish or cancel it.`,
      );
    }
    const job: RetryJob = {
      id: randomUUID(),
      state: 'running',
      scope: request.scope,
      reason: request.reason,
      createdBy: request.principal.name,
      createdAt: this.options.now(),
      finishedAt: null,
      ratePerSec: request.ratePerSec,
      total: request.ids.length,
      resent: 0,
      skipped: 0,
      failed: 0,
      remaining: request.ids.length,
      lastError: null,
      cancelledBy: null,
      ids: [...request.ids],
      cursor: 0,
      done: Promise.resolve(),
    };
    this.audit.record({
      actor: request.principal.name,
      role: request.principal.role,
      action: 'dead-letters.bulk-retry',
      target: request.scope,
      count: job.total,
      reason: request.reason,
      outcome: 'ok',
      details: { job: job.id, ratePerSec: job.ratePerSec, ids: job.ids.slice(0, 1000), ...request.details },
    });
    this.jobs.set(job.id, job);
    this.forgetOldJobs();
    job.done = this.run(job);
    return view(job);
  }

  get(id: string): RetryJobView {
    const job = this.jobs.get(id);
    if (!job)
      throw new NotFoundException(`There is no bulk retry ${id}; jobs are kept in memory until the console restarts.`);
    return view(job);
  }

  list(): RetryJobView[] {
    return [...this.jobs.values()].reverse().map(view);
  }

  cancel(id: string, principal: ConsolePrincipal): RetryJobView {
    const job = this.jobs.get(id);
    if (!job) throw new NotFoundException(`There is no bulk retry ${id}.`);
    if (job.state !== 'running') throw new ConflictException(`Bulk retry ${id} is already ${job.state}.`);
    job.state = 'cancelled';
    job.cancelledBy = principal.name;
    this.audit.record({
      actor: principal.name,
      role: principal.role,
      action: 'dead-letters.bulk-retry.cancel',
      target: job.scope,
      count: job.remaining,
      outcome: 'ok',
      details: { job: job.id, resentBeforeCancel: job.resent },
    });
    return view(job);
  }

  /** Resolves when the job has stopped sending (finished, cancelled or failed). */
  async settled(id: string): Promise<RetryJobView> {
    const job = this.jobs.get(id);
    if (!job) throw new NotFoundException(`There is no bulk retry ${id}.`);
    await job.done;
    return view(job);
  }

  async onModuleDestroy(): Promise<void> {
    const running = [...this.jobs.values()].filter((job) => job.state === 'running');
    for (const job of running) {
      job.state = 'cancelled';
      job.cancelledBy = 'shutdown';
    }
    await Promise.all(running.map((job) => job.done));
  }

  private async run(job: RetryJob): Promise<void> {
    // Rate limiting uses the monotonic clock: the options' clock may be pinned in tests and is for timestamps.
    let tokens = 1;
    let last = performance.now();
    let failuresInARow = 0;
    while (job.state === 'running' && job.cursor < job.ids.length) {
      const now = performance.now();
      tokens = Math.min(Math.max(1, job.ratePerSec), tokens + ((now - last) / 1000) * job.ratePerSec);
      last = now;
      const count = Math.min(Math.floor(tokens), MAX_CHUNK, job.ids.length - job.cursor);
      if (count < 1) {
        await sleep(Math.max(1, Math.ceil(((1 - tokens) / job.ratePerSec) * 1000)));
        continue;
      }
      tokens -= count;
      const chunk = job.ids.slice(job.cursor, job.cursor + count);
      job.cursor += count;
      const failedBefore = job.failed;
      await this.resend(job, chunk);
      failuresInARow = job.failed > failedBefore ? failuresInARow + (job.failed - failedBefore) : 0;
      job.remaining = job.ids.length - job.cursor;
      if (failuresInARow >= MAX_CONSECUTIVE_FAILURES) job.state = 'failed';
    }
    if (job.state === 'running') job.state = 'done';
    job.finishedAt = this.options.now();
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
        notAttempted: job.ids.length - job.cursor,
        lastError: job.lastError,
        cancelledBy: job.cancelledBy,
      },
    });
  }

  private async resend(job: RetryJob, chunk: number[]): Promise<void> {
    const deadLetters = this.options.broker.transport.deadLetters;
    try {
      job.resent += (await deadLetters.resend(chunk)).length;
      return;
    } catch (error) {
      if (chunk.length === 1) {
        this.countFailure(job, error);
        return;
      }
    }
    for (const id of chunk) {
      if (job.state !== 'running') {
        // Cancelled halfway through a chunk: the rest of it was not sent.
        job.cursor -= chunk.length - chunk.indexOf(id);
        return;
      }
      try {
        job.resent += (await deadLetters.resend([id])).length;
      } catch (error) {
        this.countFailure(job, error);
      }
    }
  }

  private countFailure(job: RetryJob, error: unknown): void {
    if ((error as { code?: unknown } | null)?.code === 'DEAD_LETTER_NOT_FOUND') {
      job.skipped += 1;
    } else {
      job.failed += 1;
      job.lastError = error instanceof Error ? error.message : String(error);
    }
  }

  private forgetOldJobs(): void {
    const finished = [...this.jobs.values()].filter((job) => job.state !== 'running');
    for (const job of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) this.jobs.delete(job.id);
  }
}

function view(job: RetryJob): RetryJobView {
  return {
    id: job.id,
    state: job.state,
    scope: job.scope,
    reason: job.reason,
    createdBy: job.createdBy,
    createdAt: job.createdAt,
    finishedAt: job.finishedAt,
    ratePerSec: job.ratePerSec,
    total: job.total,
    resent: job.resent,
    skipped: job.skipped,
    failed: job.failed,
    remaining: job.remaining,
    lastError: job.lastError,
    cancelledBy: job.cancelledBy,
  };
}
