import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RetryJobService, type RetryJobView } from '@reliable-mq/console';
import { CONSOLE_STORE_SCHEMA_VERSION, ConsoleStore } from '../src/store/console-store';
import { RetryJobStore, type RetryJobRecord } from '../src/jobs/retry-job.store';
import { startConsoleKit, until, type ConsoleKit, type Session } from './console-test-kit';

interface AuditItem {
  action: string;
  actor: string;
  count: number;
  outcome: string;
  details: Record<string, unknown> | null;
}

const RESENT_FROM = 'x-rmq-resent-from-dlq';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('bulk retries survive a console restart', () => {
  let kit: ConsoleKit;
  let operator: Session;
  let viewer: Session;

  beforeAll(async () => {
    kit = await startConsoleKit({
      console: { bulkRetry: { maxMessages: 50, maxRatePerSec: 100, maxConcurrentJobs: 2 } },
    });
    operator = await kit.login('operator');
    viewer = await kit.login('viewer');
  });
  afterAll(async () => kit?.close());

  const job = async (id: string) =>
    (await kit.call<RetryJobView>('GET', `/api/jobs/${id}`, { session: operator })).body;
  const audit = async (action: string) =>
    (await kit.call<{ items: AuditItem[] }>('GET', `/api/audit?action=${action}`, { session: operator })).body.items;
  /** How many times the billing group handled a resent copy of each letter. */
  const handledCopies = (ids: number[]) =>
    ids.map((id) => kit.handled.filter((delivery) => delivery.headers[RESENT_FROM] === String(id)).length);
  const letters = async (prefix: string, count: number) => {
    const ids: number[] = [];
    for (let index = 0; index < count; index++) ids.push(await kit.deadLetter({ key: `${prefix}-${index}` }));
    return ids;
  };
  const startJob = async (ids: number[], ratePerSec: number) => {
    const answer = await kit.call<RetryJobView>('POST', '/api/dead-letters/retry', {
      session: operator,
      body: { ids, ratePerSec, reason: 'restart drill' },
    });
    expect(answer.status).toBe(202);
    return answer.body;
  };

  it('keeps a job stopped by a shutdown as interrupted, with its counters, and resumes it to the end once', async () => {
    const ids = await letters('restart', 8);
    const started = await startJob(ids, 2);
    await sleep(1300);
    await kit.reopen();

    const interrupted = await job(started.id);
    const resentSoFar = ids.filter((id) => kit.engine.getDeadLetter(id)!.status === 'resent').length;
    expect(resentSoFar).toBeGreaterThanOrEqual(1);
    expect(resentSoFar).toBeLessThan(8);
    expect(interrupted).toMatchObject({
      state: 'interrupted',
      total: 8,
      resent: resentSoFar,
      skipped: 0,
      failed: 0,
      remaining: 8 - resentSoFar,
      finishedAt: null,
      createdBy: 'operator',
      reason: 'restart drill',
      ratePerSec: 2,
    });
    expect(interrupted.interruptedAt).toEqual(expect.any(Number));
    const list = await kit.call<{ items: RetryJobView[] }>('GET', '/api/jobs', { session: viewer });
    expect(list.body.items.find((item) => item.id === started.id)).toMatchObject({ state: 'interrupted' });
    const [stopped] = await audit('dead-letters.bulk-retry.interrupted');
    expect(stopped).toMatchObject({ count: 8 - resentSoFar, outcome: 'interrupted' });
    expect(stopped!.details).toMatchObject({ job: started.id, foundAt: 'shutdown', notSent: 8 - resentSoFar });
    // Nothing resumes it by itself.
    await sleep(700);
    expect(ids.filter((id) => kit.engine.getDeadLetter(id)!.status === 'dead')).toHaveLength(8 - resentSoFar);

    // The page shows it, with Resume for operators only.
    const operatorPage = await kit.call('GET', '/dead-letters', { session: operator });
    expect(operatorPage.text).toContain(`data-job-state="interrupted"`);
    expect(operatorPage.text).toContain(`data-endpoint="api/jobs/${started.id}/resume"`);
    expect(operatorPage.text).toContain(`${8 - resentSoFar} not sent yet`);
    const viewerPage = await kit.call('GET', '/dead-letters', { session: viewer });
    expect(viewerPage.text).toContain(`data-job-state="interrupted"`);
    expect(viewerPage.text).not.toContain('data-testid="job-resume"');

    const path = `/api/jobs/${started.id}/resume`;
    expect((await kit.call('POST', path, { session: viewer })).status).toBe(403);
    expect((await kit.call('POST', path, { session: operator, csrf: false })).status).toBe(403);
    expect((await job(started.id)).state).toBe('interrupted');

    const resumed = await kit.call<RetryJobView>('POST', path, { session: operator });
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ state: 'running', resumedBy: 'operator', remaining: 8 - resentSoFar });
    const again = await kit.call<{ message: string }>('POST', path, { session: operator });
    expect(again.status).toBe(409);
    expect(again.body.message).toContain('only an interrupted bulk retry can be resumed');

    const done = await kit.app.get(RetryJobService).settled(started.id);
    expect(done).toMatchObject({ state: 'done', total: 8, resent: 8, skipped: 0, failed: 0, remaining: 0 });
    for (const id of ids) expect(kit.engine.getDeadLetter(id)!.status).toBe('resent');
    await until(() => handledCopies(ids).every((count) => count >= 1), 'every resent copy handled');
    await sleep(300);
    expect(handledCopies(ids)).toEqual(ids.map(() => 1));
    const stillDead = kit.engine.listDeadLetters({ group: 'billing', status: 'dead', limit: 500 }).items;
    expect(stillDead.filter((item) => item.key?.startsWith('restart-'))).toEqual([]);

    const finishedAgain = await kit.call<{ message: string }>('POST', path, { session: operator });
    expect(finishedAgain.status).toBe(409);
    expect(finishedAgain.body.message).toBe(
      `Bulk retry ${started.id} is done; only an interrupted bulk retry can be resumed. It has finished; start a new bulk retry instead.`,
    );
    const [resumeEntry] = await audit('dead-letters.bulk-retry.resume');
    expect(resumeEntry).toMatchObject({ actor: 'operator', count: 8 - resentSoFar, outcome: 'ok' });
    const [finished] = await audit('dead-letters.bulk-retry.finished');
    expect(finished).toMatchObject({ count: 8, outcome: 'ok' });
    expect(finished!.details).toMatchObject({ job: started.id, resent: 8, resumedBy: 'operator' });
  });

  it('marks a job left running by a console that died as interrupted; resuming skips what that console had sent', async () => {
    const ids = await letters('crash', 6);
    const started = await startJob(ids, 2);
    await sleep(1300);
    await kit.reopen();
    const before = await job(started.id);
    expect(before.resent).toBeGreaterThanOrEqual(1);
    // What a crash right after a send leaves: the row still says running, one chunk behind the broker.
    const file = new Database(join(kit.dir, 'console.sqlite'));
    try {
      file
        .prepare("UPDATE retry_jobs SET state = 'running', cursor = cursor - 1, resent = resent - 1 WHERE id = ?")
        .run(started.id);
    } finally {
      file.close();
    }
    await kit.reopen();

    const interrupted = await job(started.id);
    expect(interrupted).toMatchObject({
      state: 'interrupted',
      resent: before.resent - 1,
      remaining: before.remaining + 1,
    });
    const entries = await audit('dead-letters.bulk-retry.interrupted');
    expect(
      entries.find((entry) => entry.details?.job === started.id && entry.details.foundAt === 'start'),
    ).toMatchObject({
      count: before.remaining + 1,
      outcome: 'interrupted',
    });

    expect((await kit.call('POST', `/api/jobs/${started.id}/resume`, { session: operator })).status).toBe(200);
    const done = await kit.app.get(RetryJobService).settled(started.id);
    expect(done).toMatchObject({ state: 'done', resent: 5, skipped: 1, failed: 0, remaining: 0 });
    for (const id of ids) expect(kit.engine.getDeadLetter(id)!.status).toBe('resent');
    await until(() => handledCopies(ids).every((count) => count >= 1), 'every resent copy handled');
    await sleep(300);
    expect(handledCopies(ids)).toEqual(ids.map(() => 1));
  });

  it('closes an interrupted job for good with cancel; the rest stays dead', async () => {
    const ids = await letters('close', 5);
    const started = await startJob(ids, 1);
    await sleep(300);
    await kit.reopen();
    const interrupted = await job(started.id);
    expect(interrupted.state).toBe('interrupted');

    const cancelled = await kit.call<RetryJobView>('POST', `/api/jobs/${started.id}/cancel`, { session: operator });
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({
      state: 'cancelled',
      cancelledBy: 'operator',
      remaining: interrupted.remaining,
    });
    expect(cancelled.body.finishedAt).toEqual(expect.any(Number));
    expect(ids.filter((id) => kit.engine.getDeadLetter(id)!.status === 'dead')).toHaveLength(interrupted.remaining);
    const resume = await kit.call<{ message: string }>('POST', `/api/jobs/${started.id}/resume`, { session: operator });
    expect(resume.status).toBe(409);
    expect(resume.body.message).toContain('is cancelled');
    expect((await kit.call('POST', `/api/jobs/${started.id}/cancel`, { session: operator })).status).toBe(409);
    const [finished] = await audit('dead-letters.bulk-retry.finished');
    expect(finished).toMatchObject({ outcome: 'cancelled' });
    expect(finished!.details).toMatchObject({ job: started.id, notAttempted: interrupted.remaining });
  });

  it('answers 404 for an unknown job, 400 for a malformed id, and 409 for a running one', async () => {
    const unknown = await kit.call<{ message: string }>(
      'POST',
      '/api/jobs/00000000-0000-4000-8000-000000000000/resume',
      {
        session: operator,
      },
    );
    expect(unknown.status).toBe(404);
    expect(unknown.body.message).toContain('There is no bulk retry 00000000-0000-4000-8000-000000000000');
    expect((await kit.call('POST', '/api/jobs/not-a-uuid/resume', { session: operator })).status).toBe(400);

    const ids = await letters('busy', 2);
    const started = await startJob(ids, 1);
    const running = await kit.call<{ message: string }>('POST', `/api/jobs/${started.id}/resume`, {
      session: operator,
    });
    expect(running.status).toBe(409);
    expect(running.body.message).toContain(
      'is running; only an interrupted bulk retry can be resumed. It is still sending.',
    );
    expect((await kit.call('POST', `/api/jobs/${started.id}/cancel`, { session: operator })).status).toBe(200);
    await kit.app.get(RetryJobService).settled(started.id);
  });
});

describe('the console store: schema versions and kept jobs', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rmq-console-store-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A store file as a version-1 console left it: its schema, its version, and two audit rows. */
  const writeV1File = (file: string) => {
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.exec(`
      CREATE TABLE console_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL,
        role TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, count INTEGER NOT NULL, reason TEXT,
        outcome TEXT NOT NULL, details TEXT);
      CREATE INDEX idx_audit_at ON audit (at);
      CREATE TABLE samples (at INTEGER NOT NULL, series TEXT NOT NULL, value REAL NOT NULL);
      CREATE INDEX idx_samples_series_at ON samples (series, at);
      CREATE INDEX idx_samples_at ON samples (at);
      CREATE TABLE sessions (id_hash TEXT PRIMARY KEY, username TEXT NOT NULL, csrf_token TEXT NOT NULL,
        created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, last_seen_at INTEGER NOT NULL);
      CREATE INDEX idx_sessions_username ON sessions (username);
      CREATE TABLE users (username TEXT PRIMARY KEY, password_hash TEXT NOT NULL, role TEXT NOT NULL,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
      CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO console_meta (name, value) VALUES ('schema_version', '1');
    `);
    const insert = db.prepare(
      `INSERT INTO audit (at, actor, role, action, target, count, reason, outcome, details)
       VALUES (?, ?, 'operator', ?, 'dead-letters: 3 selected', 3, 'before the upgrade', 'ok', '{"job":"old"}')`,
    );
    insert.run(Date.now() - 60_000, 'v1-alice', 'dead-letters.bulk-retry');
    insert.run(Date.now() - 30_000, 'v1-alice', 'dead-letters.bulk-retry.finished');
    db.close();
  };

  it('migrates a version-1 file in place, keeping its audit rows, and a console then works on it', async () => {
    const file = join(dir, 'v1-console.sqlite');
    writeV1File(file);
    const kit = await startConsoleKit({ console: { storeFile: file } });
    try {
      const operator = await kit.login('operator');
      const entries = await kit.call<{ items: AuditItem[] }>('GET', '/api/audit?actor=v1-alice', { session: operator });
      expect(entries.body.items.map((entry) => entry.action).sort()).toEqual([
        'dead-letters.bulk-retry',
        'dead-letters.bulk-retry.finished',
      ]);
      const ids = [await kit.deadLetter({ key: 'after-upgrade' })];
      const started = await kit.call<RetryJobView>('POST', '/api/dead-letters/retry', {
        session: operator,
        body: { ids, ratePerSec: 50 },
      });
      expect(started.status).toBe(202);
      expect(await kit.app.get(RetryJobService).settled(started.body.id)).toMatchObject({ state: 'done', resent: 1 });
    } finally {
      await kit.close();
    }
    const db = new Database(file, { readonly: true });
    try {
      expect(db.prepare("SELECT value FROM console_meta WHERE name = 'schema_version'").get()).toEqual({
        value: String(CONSOLE_STORE_SCHEMA_VERSION),
      });
      expect(db.prepare("SELECT count(*) AS n FROM audit WHERE actor = 'v1-alice'").get()).toEqual({ n: 2 });
      expect(db.prepare('SELECT count(*) AS n FROM retry_jobs').get()).toEqual({ n: 1 });
    } finally {
      db.close();
    }
  });

  it('opens a current file again without change, and refuses a newer one untouched', () => {
    const file = join(dir, 'current.sqlite');
    new ConsoleStore(file).close();
    const reopened = new ConsoleStore(file);
    expect(reopened.schemaVersion()).toBe(CONSOLE_STORE_SCHEMA_VERSION);
    reopened.db.prepare("UPDATE console_meta SET value = '99' WHERE name = 'schema_version'").run();
    reopened.close();
    expect(() => new ConsoleStore(file)).toThrow(
      `The console store ${file} has schema version 99, newer than this console (${CONSOLE_STORE_SCHEMA_VERSION}). ` +
        'Upgrade the console, or point storeFile at another file.',
    );
    const db = new Database(file, { readonly: true });
    try {
      expect(db.prepare("SELECT value FROM console_meta WHERE name = 'schema_version'").get()).toEqual({ value: '99' });
    } finally {
      db.close();
    }
  });

  it('keeps the newest finished jobs only, never an interrupted one, and drops the lists of the pruned', () => {
    const store = new ConsoleStore(join(dir, 'prune.sqlite'));
    try {
      const jobs = new RetryJobStore(store);
      const record = (index: number, state: RetryJobRecord['state']): RetryJobRecord => ({
        id: `job-${String(index).padStart(3, '0')}`,
        state,
        scope: `dead-letter ${index}`,
        reason: null,
        createdBy: 'operator',
        createdAt: 1_000 + index,
        updatedAt: 1_000 + index,
        finishedAt: state === 'interrupted' ? null : 2_000 + index,
        interruptedAt: state === 'interrupted' ? 2_000 : null,
        resumedAt: null,
        resumedBy: null,
        ratePerSec: 10,
        total: 2,
        cursor: 1,
        resent: 1,
        skipped: 0,
        failed: 0,
        lastError: null,
        cancelledBy: null,
      });
      jobs.insert(record(0, 'interrupted'), [1, 2]);
      for (let index = 1; index <= 105; index++) jobs.insert(record(index, index % 2 ? 'done' : 'cancelled'), [index]);
      expect(jobs.pruneFinished(100)).toBe(5);
      const kept = jobs.list();
      expect(kept).toHaveLength(101);
      expect(kept.map((job) => job.id)).toContain('job-000');
      expect(kept.map((job) => job.id)).not.toContain('job-005');
      expect(kept.map((job) => job.id)).toContain('job-006');
      expect(jobs.ids('job-000')).toEqual([1, 2]);
      expect(() => jobs.ids('job-001')).toThrow('The list of ids of bulk retry job-001 is missing');
    } finally {
      store.close();
    }
  });
});
