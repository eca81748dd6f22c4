import { AsyncLocalStorage } from 'node:async_hooks';
import type { DataSource } from 'typeorm';

/**
 * Runs tasks one after another, in call order; a failing task does not stop the ones
 * queued behind it. Re-entrant: a task that (directly or through awaited calls) asks the
 * same lock again runs at once instead of waiting for itself.
 */
export class SerialLock {
  private tail: Promise<void> = Promise.resolve();
  private readonly holder = new AsyncLocalStorage<{ active: boolean }>();

  run<T>(task: () => Promise<T>): Promise<T> {
    // Re-enter only from inside a task that still holds the lock: a callback scheduled from a
    // task carries its context but may run after the task released the lock.
    if (this.holder.getStore()?.active) return task();
    const result = this.tail.then(() => {
      const hold = { active: true };
      return this.holder.run(hold, task).finally(() => {
        hold.active = false;
      });
    });
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

const SINGLE_CONNECTION_TYPES = new Set([
  'better-sqlite3',
  'sqlite',
  'capacitor',
  'cordova',
  'expo',
  'nativescript',
  'react-native',
  'sqljs',
]);

// Keyed by the DataSource itself: code sharing one DataSource must share its lock, and
// nothing else is shared (a WeakMap keeps no DataSource alive).
const locks = new WeakMap<DataSource, SerialLock>();

/**
 * The lock serialising transactions on a DataSource whose driver runs everything on one
 * connection (SQLite): there, two overlapping TypeORM transactions silently nest, and one's
 * rollback undoes the other's commit. Undefined for pooled drivers, which need none.
 */
export function singleConnectionLockFor(dataSource: DataSource): SerialLock | undefined {
  if (!SINGLE_CONNECTION_TYPES.has(dataSource.options.type)) return undefined;
  let lock = locks.get(dataSource);
  if (!lock) locks.set(dataSource, (lock = new SerialLock()));
  return lock;
}
