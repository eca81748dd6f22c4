import { AsyncLocalStorage } from 'node:async_hooks';
import type { DataSource } from 'typeorm';

/**
 * How long the lock may pass from task to task while the event loop runs nothing else. On a synchronous driver
 * (better-sqlite3) a transaction never waits for I/O, so a loop of awaited transactions is one unbroken chain of
 * microtasks: no timer, socket or `setImmediate` callback runs until it ends, and the relay, whose wake-ups and
 * broker confirms are exactly those, sends nothing (measured: 55,000 commits in 4 s and not one row sent until the
 * loop stopped). A few milliseconds keeps the yields rare enough to cost the loop nothing measurable.
 */
export const EVENT_LOOP_TURN_MS = 5;

/**
 * Notices when the event loop has had no turn for a while: a probe is scheduled with `setImmediate`, and if it has
 * still not run after `budgetMs`, the loop is being starved by microtasks.
 */
class EventLoopTurns {
  private probeSince: number | undefined;

  constructor(private readonly budgetMs: number) {}

  overdue(): boolean {
    const now = Date.now();
    if (this.probeSince === undefined) {
      this.probeSince = now;
      setImmediate(() => {
        this.probeSince = undefined;
      });
      return false;
    }
    return now - this.probeSince >= this.budgetMs;
  }
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Runs tasks one after another, in call order; a failing task does not stop the ones queued behind it. Re-entrant: a
 * task that (directly or through awaited calls) asks the same lock again runs at once instead of waiting for itself.
 *
 * Fair to the rest of the process: a task asked for after the event loop has gone `turnMs` without a turn first
 * lets it turn once (`setImmediate`), so timers, sockets and wake-ups run, and tasks they ask for queue ahead of it.
 */
export class SerialLock {
  private tail: Promise<void> = Promise.resolve();
  private readonly holder = new AsyncLocalStorage<{ active: boolean }>();
  private readonly turns: EventLoopTurns;

  constructor(turnMs: number = EVENT_LOOP_TURN_MS) {
    this.turns = new EventLoopTurns(turnMs);
  }

  run<T>(task: () => Promise<T>): Promise<T> {
    // Re-enter only from inside a task that still holds the lock: a callback scheduled from a
    // task carries its context but may run after the task released the lock.
    if (this.holder.getStore()?.active) return task();
    // After its turn a task queues without asking again: the tasks that ran meanwhile have made the loop overdue
    // once more, and asking again would send it round for ever.
    if (this.turns.overdue()) return nextTurn().then(() => this.enqueue(task));
    return this.enqueue(task);
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
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
