import { chmodSync, closeSync, mkdirSync, openSync, statSync, writeFileSync } from 'node:fs';

/*
 * Files that hold messages, payloads, sessions or secrets are readable by their owner only (0600, folders 0700),
 * whatever the process umask: created with that mode, and tightened when an earlier version left them open.
 */

/** Creates `dir` and its missing parents with mode 0700. A folder that already exists keeps its mode. */
export function ownerOnlyDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/**
 * Makes a SQLite database file owner-only before SQLite opens it: created empty with mode 0600 when missing (an empty
 * file is an empty database), tightened to 0600 when it exists. SQLite creates the -wal, -shm and -journal files with
 * the mode of the database file, so they follow; ones left by an earlier version are tightened too.
 */
export function ownerOnlyDatabaseFile(file: string): void {
  closeSync(openSync(file, 'a', 0o600));
  for (const path of [file, `${file}-wal`, `${file}-shm`, `${file}-journal`]) tighten(path);
}

/** Writes `content` to `file` with mode 0600, tightening a file that already exists. */
export function writeOwnerOnlyFile(file: string, content: string): void {
  writeFileSync(file, content, { mode: 0o600 });
  tighten(file);
}

function tighten(path: string): void {
  let mode: number;
  try {
    mode = statSync(path).mode;
  } catch {
    return;
  }
  if ((mode & 0o077) !== 0) chmodSync(path, mode & 0o700);
}
