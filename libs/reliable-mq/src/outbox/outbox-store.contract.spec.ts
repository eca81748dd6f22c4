import { afterAll, beforeAll, describe, it } from 'vitest';
import { TestDatabase, type TestDatabaseKind } from '../../../../test/support/outbox-test-kit';
import { MARIADB_URL, POSTGRES_URL, describeWithService, uniqueName } from '../../../../test/support/services';
import { outboxStoreContract } from '../testing/outbox-store.contract';
import { createOutboxStore } from './create-outbox-store';

describe('SqliteOutboxStore (better-sqlite3)', () => {
  registerOutboxContract('sqlite');
});

describeWithService('postgres', 'LockingOutboxStore on PostgreSQL', () => {
  registerOutboxContract('postgres');
});

describeWithService('mariadb', 'LockingOutboxStore on MariaDB', () => {
  registerOutboxContract('mariadb');
});

/** One database per kind for all cases; each case gets a new store, and the suite empties the table before it. */
function registerOutboxContract(kind: TestDatabaseKind): void {
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    database = await TestDatabase.create(
      kind,
      { postgres: POSTGRES_URL, mariadb: MARIADB_URL },
      uniqueName('rmq_outbox_contract'),
    );
  });
  afterAll(async () => {
    await database?.dispose();
  });
  outboxStoreContract(
    'OutboxStore contract',
    async () => {
      if (!database) throw new Error('The database was not set up.');
      return { store: createOutboxStore(database.dataSource), dataSource: database.dataSource };
    },
    { describe, it },
  );
}
