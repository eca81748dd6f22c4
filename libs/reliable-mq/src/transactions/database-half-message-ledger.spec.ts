import { describe, it } from 'vitest';
import {
  halfMessageLedgerContract,
  type LedgerUnderTest,
} from '../../../broker-engine/test/half-message-ledger.contract';
import { TestDatabase, type TestDatabaseKind } from '../../../../test/support/outbox-test-kit';
import { MARIADB_URL, POSTGRES_URL, describeWithService, uniqueName } from '../../../../test/support/services';
import { DatabaseHalfMessageLedger } from './database-half-message-ledger';

/**
 * The framework's ledger on each database it supports, migrated as an application's would be. On PostgreSQL and
 * MariaDB a second ledger on its own pool plays a second process racing the first.
 */
async function databaseLedger(kind: TestDatabaseKind): Promise<LedgerUnderTest> {
  const db = await TestDatabase.create(
    kind,
    { postgres: POSTGRES_URL, mariadb: MARIADB_URL },
    uniqueName('rmq_ledger'),
  );
  return {
    ledger: new DatabaseHalfMessageLedger(db.dataSource),
    second: kind === 'sqlite' ? undefined : new DatabaseHalfMessageLedger(await db.open()),
    delivered: async () => (await db.rows()).map((row) => row.id),
    cleanup: () => db.dispose(),
  };
}

halfMessageLedgerContract('the framework on SQLite', () => databaseLedger('sqlite'), { describe, it });
describeWithService('postgres', 'the framework ledger on PostgreSQL', () => {
  halfMessageLedgerContract('the framework on PostgreSQL', () => databaseLedger('postgres'), { describe, it });
});
describeWithService('mariadb', 'the framework ledger on MariaDB', () => {
  halfMessageLedgerContract('the framework on MariaDB', () => databaseLedger('mariadb'), { describe, it });
});
