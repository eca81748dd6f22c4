import Database from 'better-sqlite3';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerEngine, DATABASE_FILE, SCHEMA_VERSION, SchemaVersionError, type Delivery } from '@reliable-mq/engine';
import { EngineKit, tempDataDir, text, until } from '../../test/engine-test-kit';
import { LOCK_FILE } from './directory-lock';

/** Reads a pragma through a connection of its own, as an operator's tool would. */
function pragmaOf(dir: string, name: string): unknown {
  const db = new Database(join(dir, DATABASE_FILE), { readonly: true, fileMustExist: true });
  try {
    return db.pragma(name, { simple: true });
  } finally {
    db.close();
  }
}

describe('durable storage', () => {
  let kit: EngineKit;
  const cleanups: Array<() => void> = [];

  afterEach(async () => {
    await kit.dispose();
    for (const cleanup of cleanups.splice(0)) cleanup();
  });

  const newDir = (): string => {
    const temp = tempDataDir();
    cleanups.push(temp.cleanup);
    return temp.dir;
  };

  it('keeps one SQLite database in WAL mode per data directory, at the current schema version', async () => {
    kit = new EngineKit();
    const dir = join(newDir(), 'nested', 'broker');
    const engine = kit.open({ dataDir: dir });
    engine.createTopic('orders');
    await engine.publish([{ topic: 'orders', body: 'x' }]);
    await engine.close();

    expect(readdirSync(dir).filter((name) => name.endsWith('.sqlite'))).toEqual([DATABASE_FILE]);
    expect(pragmaOf(dir, 'journal_mode')).toBe('wal');
    expect(SCHEMA_VERSION).toBeGreaterThanOrEqual(1);
    expect(pragmaOf(dir, 'user_version')).toBe(SCHEMA_VERSION);
  });

  it('migrates an existing database that is at version 0', async () => {
    kit = new EngineKit();
    const dir = newDir();
    const seed = new Database(join(dir, DATABASE_FILE));
    seed.exec('CREATE TABLE unrelated (x INTEGER)');
    expect(seed.pragma('user_version', { simple: true })).toBe(0);
    seed.close();

    const engine = kit.open({ dataDir: dir });
    engine.createTopic('migrated');
    await engine.publish([{ topic: 'migrated', body: 'after migration' }]);
    await engine.close();

    expect(pragmaOf(dir, 'user_version')).toBe(SCHEMA_VERSION);
    const db = new Database(join(dir, DATABASE_FILE), { readonly: true });
    const tables = (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>
    ).map((row) => row.name);
    db.close();
    expect(tables).toEqual(
      expect.arrayContaining(['topics', 'queues', 'messages', 'scheduled', 'offsets', 'unrelated']),
    );
  });

  for (const journal of ['delete', 'wal'] as const) {
    it(`refuses a database written by a newer engine (journal ${journal}) and leaves the file unmodified`, () => {
      kit = new EngineKit();
      const dir = newDir();
      const file = join(dir, DATABASE_FILE);
      const seed = new Database(file);
      seed.pragma(`journal_mode = ${journal}`);
      seed.exec("CREATE TABLE future (x TEXT); INSERT INTO future VALUES ('from a newer release')");
      seed.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
      seed.close();
      const before = readFileSync(file);
      const filesBefore = readdirSync(dir).sort();

      let caught: unknown;
      try {
        BrokerEngine.open({ dataDir: dir, minFreeDiskBytes: 0 });
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(SchemaVersionError);
      const error = caught as SchemaVersionError;
      expect(error.found).toBe(SCHEMA_VERSION + 1);
      expect(error.supported).toBe(SCHEMA_VERSION);
      expect(error.message).toContain(`schema version ${SCHEMA_VERSION + 1}`);

      expect(readFileSync(file).equals(before)).toBe(true);
      // Beside the untouched database, only the lock the refused engine held while it looked.
      expect(
        readdirSync(dir)
          .filter((name) => name !== LOCK_FILE)
          .sort(),
      ).toEqual(filesBefore);
      expect(pragmaOf(dir, 'user_version')).toBe(SCHEMA_VERSION + 1);
      expect(pragmaOf(dir, 'journal_mode')).toBe(journal);
    });
  }

  it('keeps topics, messages and committed offsets across close and reopen', async () => {
    kit = new EngineKit();
    const dir = newDir();
    mkdirSync(dir, { recursive: true });

    const first = kit.open({ dataDir: dir });
    first.createTopic('orders', { queueCount: 3 });
    first.createTopic('payments');
    const received: string[] = [];
    const sub = await first.subscribe({
      group: 'billing',
      topic: 'orders',
      startFrom: 'earliest',
      handler: async (delivery) => {
        received.push(text(delivery));
      },
    });
    await first.publish([1, 2, 3, 4, 5, 6].map((n) => ({ topic: 'orders', key: `k${n % 3}`, body: `first-${n}` })));
    await until(() => received.length === 6, 5000, 'six deliveries before the restart');
    await sub.close();
    // Left unconsumed by billing; must be delivered after the restart, and only these.
    const pending = await first.publish(
      [7, 8, 9].map((n) => ({ topic: 'orders', key: `k${n % 3}`, body: `second-${n}` })),
    );
    await first.close();
    expect(existsSync(join(dir, DATABASE_FILE))).toBe(true);

    const second = kit.open({ dataDir: dir });
    expect(second.getTopic('orders')?.queueCount).toBe(3);
    expect(second.getTopic('payments')?.queueCount).toBe(4);
    expect(second.listTopics().map((topic) => topic.name)).toEqual(expect.arrayContaining(['orders', 'payments']));

    const afterRestart: Delivery[] = [];
    await second.subscribe({
      group: 'billing',
      topic: 'orders',
      handler: async (delivery) => {
        afterRestart.push(delivery);
      },
    });
    const fresh: string[] = [];
    await second.subscribe({
      group: 'audit',
      topic: 'orders',
      startFrom: 'earliest',
      handler: async (delivery) => {
        fresh.push(text(delivery));
      },
    });
    await until(() => afterRestart.length === 3 && fresh.length === 9, 5000, 'deliveries after the restart');
    expect(afterRestart.map(text).sort()).toEqual(['second-7', 'second-8', 'second-9']);
    expect(afterRestart.map((d) => d.messageId).sort()).toEqual(pending.map((r) => r.messageId).sort());
    expect(fresh.sort()).toEqual([
      'first-1',
      'first-2',
      'first-3',
      'first-4',
      'first-5',
      'first-6',
      'second-7',
      'second-8',
      'second-9',
    ]);

    // Queue heads survive too: the next offset continues after the stored ones.
    const [next] = await second.publish([{ topic: 'orders', key: 'k1', body: 'third' }]);
    const earlierOnQueue = pending.filter((r) => r.queueId === next!.queueId).map((r) => r.queueOffset);
    expect(next!.queueOffset).toBeGreaterThan(Math.max(-1, ...earlierOnQueue));
    const stats = second.stats();
    const orders = stats.topics.find((t) => t.topic === 'orders')!;
    expect(orders.queues.reduce((sum, q) => sum + q.maxOffset, 0)).toBe(10);
  });
});
