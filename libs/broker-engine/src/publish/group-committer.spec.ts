import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineClosedError, StorageFullError } from '../errors';
import { tempDataDir } from '../../test/engine-test-kit';
import { GroupCommitter, type CommitHooks } from './group-committer';

describe('GroupCommitter', () => {
  let dir: { dir: string; cleanup: () => void };
  let db: Database.Database;
  let reader: Database.Database;
  let events: string[];
  let transactions: number;
  let guard: Error | null;

  const hooks: CommitHooks = {
    beforeCommit: () => {
      transactions++;
    },
    afterCommit: () => events.push('commit'),
    afterRollback: () => events.push('rollback'),
    publishGuard: () => guard,
    mapError: (error) => (error instanceof Error ? error : new Error(String(error))),
  };

  const committedRows = (): number => (reader.prepare('SELECT COUNT(*) AS n FROM t').get() as { n: number }).n;

  beforeEach(() => {
    dir = tempDataDir();
    db = new Database(join(dir.dir, 'committer.sqlite'));
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
    reader = new Database(join(dir.dir, 'committer.sqlite'), { readonly: true });
    events = [];
    transactions = 0;
    guard = null;
  });

  afterEach(() => {
    reader.close();
    db.close();
    dir.cleanup();
  });

  const insert = (v: string) => () => Number(db.prepare('INSERT INTO t (v) VALUES (?)').run(v).lastInsertRowid);

  it('writes everything submitted together in one transaction and settles each writer after the commit', async () => {
    const committer = new GroupCommitter(db, hooks, null);
    const settledBeforeCommit: boolean[] = [];
    const writes = Array.from({ length: 64 }, (_, index) =>
      committer.submit(insert(`row-${index}`), { publish: true }).then((id) => {
        settledBeforeCommit.push(!events.includes('commit'));
        // Another connection sees the row by the time the writer hears back.
        expect(reader.prepare('SELECT v FROM t WHERE id = ?').get(id)).toEqual({ v: `row-${index}` });
        return id;
      }),
    );
    expect(committer.queued).toBe(64);
    expect(committedRows()).toBe(0);
    const ids = await Promise.all(writes);
    expect(transactions).toBe(1);
    expect(events).toEqual(['commit']);
    expect(settledBeforeCommit.every((early) => !early)).toBe(true);
    expect(new Set(ids).size).toBe(64);
    expect(committedRows()).toBe(64);
  });

  it('isolates a failing operation: its neighbours still commit', async () => {
    const committer = new GroupCommitter(db, hooks, null);
    const good1 = committer.submit(insert('a'), { publish: true });
    const bad = committer.submit(
      () => {
        db.prepare('INSERT INTO t (v) VALUES (?)').run('half written');
        throw new Error('boom');
      },
      { publish: true },
    );
    const good2 = committer.submit(insert('b'), { publish: true });
    await expect(bad).rejects.toThrow('boom');
    await expect(good1).resolves.toBeTypeOf('number');
    await expect(good2).resolves.toBeTypeOf('number');
    expect((reader.prepare('SELECT v FROM t ORDER BY id').all() as Array<{ v: string }>).map((r) => r.v)).toEqual([
      'a',
      'b',
    ]);
  });

  it('refuses only publishing operations while the publish guard objects', async () => {
    const committer = new GroupCommitter(db, hooks, null);
    guard = new Error('disk is full');
    const publish = committer.submit(insert('publish'), { publish: true });
    const internal = committer.submit(insert('offsets'), { publish: false });
    await expect(publish).rejects.toBe(guard);
    await expect(internal).resolves.toBeTypeOf('number');
    expect((reader.prepare('SELECT v FROM t').all() as Array<{ v: string }>).map((r) => r.v)).toEqual(['offsets']);
  });

  it('maps SQLITE_FULL to StorageFullError for every writer of that transaction and stores nothing', async () => {
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    const pages = db.pragma('page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${pages + 2}`);
    const committer = new GroupCommitter(db, hooks, (pages + 2) * pageSize);
    const big = 'x'.repeat(pageSize * 4);
    const writes = [
      committer.submit(insert('small'), { publish: true }),
      committer.submit(insert(big), { publish: true }),
    ];
    for (const write of writes) await expect(write).rejects.toBeInstanceOf(StorageFullError);
    await expect(writes[0]).rejects.toThrow(`maxDatabaseBytes ${(pages + 2) * pageSize}`);
    expect(committedRows()).toBe(0);
    expect(events).toContain('rollback');
    // Space for a small row is still there once the oversized writer is gone.
    await expect(committer.submit(insert('small again'), { publish: true })).resolves.toBeTypeOf('number');
    expect(committedRows()).toBe(1);
  });

  it('still commits non-publishing writers and the commit hooks when a publish hits SQLITE_FULL', async () => {
    db.exec('CREATE TABLE progress (id INTEGER PRIMARY KEY, v INTEGER NOT NULL); INSERT INTO progress VALUES (1, 0)');
    db.prepare('INSERT INTO t (v) VALUES (?)').run('old');
    let progress = 0;
    const persisting: CommitHooks = {
      ...hooks,
      // Stands in for consumer offsets, which ride along with whatever commits next.
      beforeCommit: () => {
        db.prepare('UPDATE progress SET v = ? WHERE id = 1').run(progress);
      },
    };
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    const pages = db.pragma('page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${pages + 2}`);
    const committer = new GroupCommitter(db, persisting, (pages + 2) * pageSize);
    progress = 7;
    const publish = committer.submit(insert('y'.repeat(pageSize * 4)), { publish: true });
    const cleanup = committer.submit(() => db.prepare("DELETE FROM t WHERE v = 'old'").run().changes, {
      publish: false,
    });
    await expect(publish).rejects.toBeInstanceOf(StorageFullError);
    await expect(cleanup).resolves.toBe(1);
    expect(committedRows()).toBe(0);
    expect(reader.prepare('SELECT v FROM progress WHERE id = 1').get()).toEqual({ v: 7 });

    // With only the publish in the transaction, the hooks' writes still get their own commit.
    progress = 9;
    await expect(committer.submit(insert('z'.repeat(pageSize * 4)), { publish: true })).rejects.toBeInstanceOf(
      StorageFullError,
    );
    expect(reader.prepare('SELECT v FROM progress WHERE id = 1').get()).toEqual({ v: 9 });
  });

  it('rejects queued and later writers with EngineClosedError once stopped', async () => {
    const committer = new GroupCommitter(db, hooks, null);
    const queued = committer.submit(insert('late'), { publish: true });
    committer.stop();
    await expect(queued).rejects.toBeInstanceOf(EngineClosedError);
    await expect(committer.submit(insert('later'), { publish: true })).rejects.toBeInstanceOf(EngineClosedError);
    expect(committedRows()).toBe(0);
  });
});
