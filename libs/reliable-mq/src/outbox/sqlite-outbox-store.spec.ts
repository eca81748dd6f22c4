import { runReliableMqMigrations } from '../migrations';
import type { Database } from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { afterEach, describe, expect, it } from 'vitest';
import { ReliablePublisher } from '../producing/reliable-publisher.service';
import type { Transport } from '../transport/transport.interface';
import { SqliteOutboxStore } from './sqlite-outbox-store';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function database(journal: 'wal' | 'delete', synchronous: 'FULL' | 'EXTRA' | 'NORMAL'): Promise<DataSource> {
  const dir = mkdtempSync(join(tmpdir(), 'rmq-sqlite-store-'));
  const dataSource = new DataSource({
    type: 'better-sqlite3',
    database: join(dir, 'app.sqlite'),
    enableWAL: journal === 'wal',
    prepareDatabase: (db: Database) => {
      db.pragma(`synchronous = ${synchronous}`);
    },
  });
  await dataSource.initialize();
  await runReliableMqMigrations(dataSource);
  cleanups.push(async () => {
    await dataSource.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  return dataSource;
}

const raw = (dataSource: DataSource): Database =>
  (dataSource.driver as unknown as { databaseConnection: Database }).databaseConnection;

async function writeRows(dataSource: DataSource, count: number): Promise<void> {
  const publisher = new ReliablePublisher({ dataSource, transport: {} as Transport, producerGroup: 'spec' });
  await publisher.transaction((manager) =>
    publisher.publish(
      Array.from({ length: count }, (_, i) => ({ topic: 'order.created', key: `order-${i}`, payload: { i } })),
      { manager },
    ),
  );
  publisher.close();
}

describe('SqliteOutboxStore bookkeeping and the connection it shares', () => {
  it.each([
    ['wal', 'FULL', 2],
    ['wal', 'EXTRA', 3],
    ['wal', 'NORMAL', 1],
    ['delete', 'FULL', 2],
  ] as const)(
    'claims and marks sent with journal %s, synchronous %s, and leaves the level at %i',
    async (journal, level, expected) => {
      const dataSource = await database(journal, level);
      await writeRows(dataSource, 5);
      const store = new SqliteOutboxStore(dataSource);
      const now = Date.now();
      const rows = await store.claim({
        owner: 'relay-1',
        now,
        leaseUntil: now + 30_000,
        limit: 10,
        maxBytes: 1_000_000,
      });
      expect(rows.map((row) => row.key)).toEqual(['order-0', 'order-1', 'order-2', 'order-3', 'order-4']);
      expect(raw(dataSource).pragma('synchronous', { simple: true })).toBe(expected);
      expect(
        await store.markSent(
          'relay-1',
          rows.map((row) => row.seq),
          now,
        ),
      ).toBe(5);
      expect(raw(dataSource).pragma('synchronous', { simple: true })).toBe(expected);
      expect(await store.countPending()).toBe(0);
    },
  );

  it('puts the level back when the statement fails', async () => {
    const dataSource = await database('wal', 'FULL');
    await writeRows(dataSource, 1);
    const store = new SqliteOutboxStore(dataSource);
    await dataSource.query(
      `CREATE TRIGGER "spec_refuse" BEFORE UPDATE ON "rmq_outbox" BEGIN SELECT RAISE(ABORT, 'refused'); END`,
    );
    const now = Date.now();
    await expect(
      store.claim({ owner: 'relay-1', now, leaseUntil: now + 1000, limit: 10, maxBytes: 1_000_000 }),
    ).rejects.toThrow('refused');
    expect(raw(dataSource).pragma('synchronous', { simple: true })).toBe(2);
  });
});
