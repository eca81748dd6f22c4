import type { DataSource } from 'typeorm';
import { LockingOutboxStore } from './locking-outbox-store';
import { outboxDialectName } from './outbox-dialect';
import type { OutboxStore } from './outbox-store.interface';
import { SqliteOutboxStore } from './sqlite-outbox-store';

/** The store for the DataSource's kind of database; throws a ConfigurationError for unsupported kinds. */
export function createOutboxStore(dataSource: DataSource): OutboxStore {
  return outboxDialectName(dataSource) === 'sqlite'
    ? new SqliteOutboxStore(dataSource)
    : new LockingOutboxStore(dataSource);
}
