import type Database from 'better-sqlite3';
import type { ConsoleStore } from '../store/console-store';

export type RetryJobState = 'running' | 'interrupted' | 'done' | 'cancelled' | 'failed';

/** States a job never leaves; their rows are pruned beyond the newest KEEP_FINISHED. */
export const FINISHED_STATES: readonly RetryJobState[] = ['done', 'cancelled', 'failed'];

/** A bulk retry as stored: everything but its list of ids, which is read only to run it. */
export interface RetryJobRecord {
  id: string;
  state: RetryJobState;
  scope: string;
  reason: string | null;
  createdBy: string;
  createdAt: number;
  /** When its row was last written (start, each chunk, the end). */
  updatedAt: number;
  finishedAt: number | null;
  /** When it was last found stopped halfway, by a shutdown or at the start of the next console. */
  interruptedAt: number | null;
  resumedAt: number | null;
  resumedBy: string | null;
  ratePerSec: number;
  total: number;
  /** How far into the list it got: the letters before it were sent (or found not dead), the rest were not. */
  cursor: number;
  resent: number;
  skipped: number;
  failed: number;
  lastError: string | null;
  cancelledBy: string | null;
}

interface Row {
  id: string;
  state: string;
  scope: string;
  reason: string | null;
  created_by: string;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
  interrupted_at: number | null;
  resumed_at: number | null;
  resumed_by: string | null;
  rate_per_sec: number;
  total: number;
  cursor: number;
  resent: number;
  skipped: number;
  failed: number;
  last_error: string | null;
  cancelled_by: string | null;
}

const COLUMNS = `id, state, scope, reason, created_by, created_at, updated_at, finished_at, interrupted_at, resumed_at,
  resumed_by, rate_per_sec, total, cursor, resent, skipped, failed, last_error, cancelled_by`;

function toRecord(row: Row): RetryJobRecord {
  return {
    id: row.id,
    state: row.state as RetryJobState,
    scope: row.scope,
    reason: row.reason,
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
    interruptedAt: row.interrupted_at,
    resumedAt: row.resumed_at,
    resumedBy: row.resumed_by,
    ratePerSec: row.rate_per_sec,
    total: row.total,
    cursor: row.cursor,
    resent: row.resent,
    skipped: row.skipped,
    failed: row.failed,
    lastError: row.last_error,
    cancelledBy: row.cancelled_by,
  };
}

function toRow(job: RetryJobRecord): Row {
  return {
    id: job.id,
    state: job.state,
    scope: job.scope,
    reason: job.reason,
    created_by: job.createdBy,
    created_at: job.createdAt,
    updated_at: job.updatedAt,
    finished_at: job.finishedAt,
    interrupted_at: job.interruptedAt,
    resumed_at: job.resumedAt,
    resumed_by: job.resumedBy,
    rate_per_sec: job.ratePerSec,
    total: job.total,
    cursor: job.cursor,
    resent: job.resent,
    skipped: job.skipped,
    failed: job.failed,
    last_error: job.lastError,
    cancelled_by: job.cancelledBy,
  };
}

/**
 * Bulk retries in the console's SQLite store (tables `retry_jobs` and `retry_job_ids`, schema version 2). Every
 * write is one short statement; the list of ids is written once, when the job starts.
 */
export class RetryJobStore {
  private readonly db: Database.Database;
  private readonly insertJob;
  private readonly insertIds;
  private readonly saveStmt;
  private readonly getStmt;
  private readonly idsStmt;
  private readonly listStmt;
  private readonly transitionStmt;
  private readonly interruptRunningStmt;
  private readonly pruneStmt;
  private readonly pruneIdsStmt;
  private readonly forgetIdsStmt;

  constructor(store: ConsoleStore) {
    this.db = store.db;
    this.insertJob = this.db.prepare(
      `INSERT INTO retry_jobs (${COLUMNS}) VALUES (@id, @state, @scope, @reason, @created_by, @created_at, @updated_at,
        @finished_at, @interrupted_at, @resumed_at, @resumed_by, @rate_per_sec, @total, @cursor, @resent, @skipped,
        @failed, @last_error, @cancelled_by)`,
    );
    this.insertIds = this.db.prepare('INSERT INTO retry_job_ids (job_id, ids) VALUES (?, ?)');
    this.saveStmt = this.db.prepare(
      `UPDATE retry_jobs SET state = @state, updated_at = @updated_at, finished_at = @finished_at,
        interrupted_at = @interrupted_at, resumed_at = @resumed_at, resumed_by = @resumed_by, cursor = @cursor,
        resent = @resent, skipped = @skipped, failed = @failed, last_error = @last_error, cancelled_by = @cancelled_by
       WHERE id = @id`,
    );
    this.getStmt = this.db.prepare(`SELECT ${COLUMNS} FROM retry_jobs WHERE id = ?`);
    this.idsStmt = this.db.prepare('SELECT ids FROM retry_job_ids WHERE job_id = ?');
    this.listStmt = this.db.prepare(`SELECT ${COLUMNS} FROM retry_jobs ORDER BY created_at DESC, rowid DESC`);
    this.transitionStmt = this.db.prepare('UPDATE retry_jobs SET state = ?, updated_at = ? WHERE id = ? AND state = ?');
    this.interruptRunningStmt = this.db.prepare(
      `UPDATE retry_jobs SET state = 'interrupted', interrupted_at = ?, updated_at = ? WHERE state = 'running'
       RETURNING ${COLUMNS}`,
    );
    const finished = FINISHED_STATES.map((state) => `'${state}'`).join(', ');
    this.pruneStmt = this.db.prepare(
      `DELETE FROM retry_jobs WHERE state IN (${finished}) AND id NOT IN (
         SELECT id FROM retry_jobs WHERE state IN (${finished})
         ORDER BY COALESCE(finished_at, updated_at) DESC, rowid DESC LIMIT ?)`,
    );
    this.pruneIdsStmt = this.db.prepare('DELETE FROM retry_job_ids WHERE job_id NOT IN (SELECT id FROM retry_jobs)');
    this.forgetIdsStmt = this.db.prepare('DELETE FROM retry_job_ids WHERE job_id = ?');
  }

  /** Writes a new job and its list of ids together. */
  insert(job: RetryJobRecord, ids: readonly number[]): void {
    this.db.transaction(() => {
      this.insertJob.run(toRow(job));
      this.insertIds.run(job.id, JSON.stringify(ids));
    })();
  }

  /** Writes the job's state, progress and times (not its list, which never changes). */
  save(job: RetryJobRecord): void {
    this.saveStmt.run(toRow(job));
  }

  /** Writes a finished job and drops its list of ids, which nothing reads once it cannot run again. */
  finish(job: RetryJobRecord): void {
    this.db.transaction(() => {
      this.saveStmt.run(toRow(job));
      this.forgetIdsStmt.run(job.id);
    })();
  }

  get(id: string): RetryJobRecord | undefined {
    const row = this.getStmt.get(id) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  ids(id: string): number[] {
    const row = this.idsStmt.get(id) as { ids: string } | undefined;
    if (!row) throw new Error(`The list of ids of bulk retry ${id} is missing from the console store.`);
    return JSON.parse(row.ids) as number[];
  }

  /** Every stored job, newest first (finished ones are pruned, so this stays short). */
  list(): RetryJobRecord[] {
    return (this.listStmt.all() as Row[]).map(toRecord);
  }

  /**
   * Moves a job from one state to another only if it is still in the first: true when this call moved it. Two
   * consoles on one store file cannot both resume the same job.
   */
  transition(id: string, from: RetryJobState, to: RetryJobState, at: number): boolean {
    return this.transitionStmt.run(to, at, id, from).changes === 1;
  }

  /** Marks every job still `running` as `interrupted` (they ran in a console that stopped) and returns them. */
  interruptRunning(at: number): RetryJobRecord[] {
    return (this.interruptRunningStmt.all(at, at) as Row[]).map(toRecord);
  }

  /** Deletes finished jobs beyond the newest `keep`, with their lists; interrupted ones are never pruned. */
  pruneFinished(keep: number): number {
    return this.db.transaction(() => {
      const deleted = this.pruneStmt.run(keep).changes;
      if (deleted > 0) this.pruneIdsStmt.run();
      return deleted;
    })();
  }
}
