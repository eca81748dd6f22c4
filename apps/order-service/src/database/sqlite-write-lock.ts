import { Injectable } from '@nestjs/common';

/**
 * Runs the order service's transactions one at a time.
 *
 * TypeORM's better-sqlite3 driver runs every query of a DataSource on one connection. Two transactions that
 * overlap in time (an HTTP request and a message handler, each awaiting between statements) do not get isolation:
 * the second one becomes a savepoint inside the first, so a rollback of one can undo the other's "commit". Every
 * write of this service therefore goes through this lock. The outbox relay needs no lock: it only runs its
 * statements while the connection is outside any transaction.
 *
 * One instance per application (a provider, not a module-level variable), so two apps in one process never share it.
 */
@Injectable()
export class SqliteWriteLock {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
