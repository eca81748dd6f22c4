import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { REDIS_URL, describeWithService, uniqueName } from '../../../../test/support/services';
import { dedupStoreContract } from '../testing/dedup-store.contract';
import { DbDedupStore } from './db-dedup.store';
import {
  openInboxTestDatabase,
  type InboxTestDatabase,
  type InboxTestDatabaseKind,
} from '../../test/inbox-test-databases';
import { MemoryDedupStore } from './memory-dedup.store';
import { RedisDedupStore } from './redis-dedup.store';

dedupStoreContract('MemoryDedupStore', async () => ({ store: new MemoryDedupStore() }), { describe, it });

describeWithService('redis', 'RedisDedupStore on Redis', () => {
  const keyPrefix = `${uniqueName('rmq_dedup_contract')}:`;
  let admin: Redis;

  beforeAll(() => {
    admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  });

  afterAll(async () => {
    await deleteKeysWithPrefix(admin, keyPrefix);
    await admin.quit();
  });

  dedupStoreContract(
    'with a url (the store owns its client)',
    async () => ({ store: new RedisDedupStore({ url: REDIS_URL, keyPrefix }) }),
    { describe, it },
  );

  dedupStoreContract(
    'with a client passed in',
    async () => {
      const client = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
      return { store: new RedisDedupStore({ client, keyPrefix }), cleanup: async () => void (await client.quit()) };
    },
    { describe, it },
  );
});

describe('DbDedupStore on SQLite (better-sqlite3)', () => {
  registerDataSourceContract('sqlite');
});

describeWithService('postgres', 'DbDedupStore on PostgreSQL', () => {
  registerDataSourceContract('postgres');
});

describeWithService('mariadb', 'DbDedupStore on MariaDB', () => {
  registerDataSourceContract('mariadb');
});

/** One database for all cases of a run: each case writes under its own random group names. */
function registerDataSourceContract(kind: InboxTestDatabaseKind): void {
  let database: InboxTestDatabase | undefined;
  beforeAll(async () => {
    database = await openInboxTestDatabase(kind);
  });
  afterAll(async () => {
    await database?.dispose();
  });
  dedupStoreContract(
    'contract',
    async () => {
      if (!database) throw new Error('The database was not set up.');
      return { store: new DbDedupStore(database.dataSource) };
    },
    { describe, it },
  );
  // Batching changes how transactions are formed, not what the store promises.
  dedupStoreContract(
    'contract, batched',
    async () => {
      if (!database) throw new Error('The database was not set up.');
      return { store: new DbDedupStore(database.dataSource, { batch: { maxMessages: 8, maxInFlight: 2 } }) };
    },
    { describe, it },
  );
}

async function deleteKeysWithPrefix(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    if (keys.length > 0) await client.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}
