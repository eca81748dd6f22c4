import Database from 'better-sqlite3';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BrokerEngine, DATABASE_FILE } from '../broker-engine';
import { ownerOnlyDatabaseFile, ownerOnlyDirectory, writeOwnerOnlyFile } from './owner-only-files';

const modeOf = (path: string): string => (statSync(path).mode & 0o777).toString(8);

describe('owner-only files', () => {
  let root: string;
  let umask: number;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'rmq-owner-only-'));
    // The most open umask there is: whatever stays private below does so by its own mode.
    umask = process.umask(0);
  });
  afterEach(() => {
    process.umask(umask);
    rmSync(root, { recursive: true, force: true });
  });

  it('a SQLite database and the -wal and -shm files SQLite makes next to it are 0600, its folders 0700', () => {
    const dir = join(root, 'a', 'b');
    ownerOnlyDirectory(dir);
    const file = join(dir, 'x.sqlite');
    ownerOnlyDatabaseFile(file);
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (v TEXT); INSERT INTO t VALUES (1)');
    expect([modeOf(join(root, 'a')), modeOf(dir)]).toEqual(['700', '700']);
    expect([modeOf(file), modeOf(`${file}-wal`), modeOf(`${file}-shm`)]).toEqual(['600', '600', '600']);
    db.close();
  });

  it('tightens files an earlier version left readable to others, and writes secrets 0600', () => {
    const file = join(root, 'old.sqlite');
    for (const path of [file, `${file}-wal`]) {
      writeFileSync(path, '');
      chmodSync(path, 0o644);
    }
    ownerOnlyDatabaseFile(file);
    expect([modeOf(file), modeOf(`${file}-wal`)]).toEqual(['600', '600']);
    const secret = join(root, 'secret');
    writeFileSync(secret, 'old');
    chmodSync(secret, 0o666);
    writeOwnerOnlyFile(secret, 'new');
    expect(modeOf(secret)).toBe('600');
  });

  it('the engine creates its data folder 0700 and its database files 0600', async () => {
    const dataDir = join(root, 'broker');
    const engine = BrokerEngine.open({ dataDir, minFreeDiskBytes: 0 });
    engine.createTopic('t');
    await engine.publish([{ messageId: 'm-1', topic: 't', body: Buffer.from('x') }]);
    expect(modeOf(dataDir)).toBe('700');
    for (const suffix of ['', '-wal', '-shm']) expect(modeOf(join(dataDir, `${DATABASE_FILE}${suffix}`))).toBe('600');
    await engine.close();
  });
});
