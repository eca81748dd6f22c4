import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TopicInfo } from '../engine.types';
import { migrate } from '../storage/schema';
import { RetentionSweeper } from './retention-sweeper';

const NOW = 1_000_000;
const HOUR = 3_600_000;

describe('RetentionSweeper', () => {
  let db: Database.Database;
  let topics: TopicInfo[];
  let chunks: number[];

  beforeEach(() => {
    db = new Database(':memory:');
    migrate(db, ':memory:');
    topics = [];
    chunks = [];
  });

  afterEach(() => db.close());

  const submit = <T>(apply: () => T): Promise<T> => {
    const result = db.transaction(apply)();
    if (typeof result === 'number') chunks.push(result);
    return Promise.resolve(result);
  };

  const sweeper = (chunkSize: number, retentionMs = HOUR): RetentionSweeper =>
    new RetentionSweeper(db, () => topics, submit, { retentionMs, chunkSize, now: () => NOW });

  function addTopic(name: string, queueCount: number): void {
    topics.push({ name, queueCount, createdAt: 0 });
  }

  function addMessages(topic: string, queueId: number, count: number, storedAt: number): void {
    const insert = db.prepare(
      `INSERT INTO messages (topic, queue_id, queue_offset, message_id, body, born_at, stored_at)
       VALUES (?, ?, ?, ?, x'00', ?, ?)`,
    );
    const next = (
      db.prepare('SELECT COUNT(*) AS n FROM messages WHERE topic = ? AND queue_id = ?').get(topic, queueId) as {
        n: number;
      }
    ).n;
    db.transaction(() => {
      for (let i = 0; i < count; i++)
        insert.run(topic, queueId, next + i, `${topic}-${queueId}-${next + i}`, storedAt, storedAt);
    })();
  }

  function subscribe(group: string, topic: string): void {
    db.prepare(
      `INSERT INTO subscriptions (group_name, topic, group_mode, created_at) VALUES (?, ?, 'clustering', 0)`,
    ).run(group, topic);
  }

  function commit(group: string, topic: string, queueId: number, committed: number, member = ''): void {
    db.prepare(
      `INSERT INTO offsets (group_name, member_id, topic, queue_id, committed, updated_at) VALUES (?, ?, ?, ?, ?, 0)
       ON CONFLICT (group_name, member_id, topic, queue_id) DO UPDATE SET committed = excluded.committed`,
    ).run(group, member, topic, queueId, committed);
  }

  const remaining = (topic: string, queueId: number): number[] =>
    (
      db
        .prepare('SELECT queue_offset FROM messages WHERE topic = ? AND queue_id = ? ORDER BY queue_offset')
        .all(topic, queueId) as Array<{ queue_offset: number }>
    ).map((row) => row.queue_offset);

  it('deletes in chunks of at most chunkSize, each its own write', async () => {
    addTopic('t', 1);
    addMessages('t', 0, 50, NOW - 2 * HOUR);
    subscribe('g', 't');
    commit('g', 't', 0, 50);
    expect(await sweeper(7).sweep()).toBe(50);
    expect(chunks).toEqual([7, 7, 7, 7, 7, 7, 7, 1]);
    expect(remaining('t', 0)).toEqual([]);
  });

  it('keeps what the slowest group has not consumed, per queue', async () => {
    addTopic('t', 2);
    addMessages('t', 0, 10, NOW - 2 * HOUR);
    addMessages('t', 1, 10, NOW - 2 * HOUR);
    subscribe('fast', 't');
    subscribe('slow', 't');
    commit('fast', 't', 0, 10);
    commit('fast', 't', 1, 10);
    commit('slow', 't', 0, 4);
    commit('slow', 't', 1, 10);
    expect(await sweeper(3).sweep()).toBe(14);
    expect(remaining('t', 0)).toEqual([4, 5, 6, 7, 8, 9]);
    expect(remaining('t', 1)).toEqual([]);
  });

  it('keeps everything of a queue a subscribed group has no offset for', async () => {
    addTopic('t', 2);
    addMessages('t', 0, 5, NOW - 2 * HOUR);
    addMessages('t', 1, 5, NOW - 2 * HOUR);
    subscribe('a', 't');
    subscribe('b', 't');
    commit('a', 't', 0, 5);
    commit('a', 't', 1, 5);
    commit('b', 't', 1, 5);
    expect(await sweeper(100).sweep()).toBe(5);
    expect(remaining('t', 0)).toEqual([0, 1, 2, 3, 4]);
  });

  it('uses the slowest member of a broadcasting group', async () => {
    addTopic('t', 1);
    addMessages('t', 0, 6, NOW - 2 * HOUR);
    subscribe('bc', 't');
    commit('bc', 't', 0, 6, 'member-1');
    commit('bc', 't', 0, 2, 'member-2');
    expect(await sweeper(100).sweep()).toBe(2);
    expect(remaining('t', 0)).toEqual([2, 3, 4, 5]);
  });

  it('keeps consumed messages younger than the retention period', async () => {
    addTopic('t', 1);
    addMessages('t', 0, 3, NOW - 2 * HOUR);
    addMessages('t', 0, 3, NOW - HOUR / 2);
    subscribe('g', 't');
    commit('g', 't', 0, 6);
    expect(await sweeper(100).sweep()).toBe(3);
    expect(remaining('t', 0)).toEqual([3, 4, 5]);
  });
});
