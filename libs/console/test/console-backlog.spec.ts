import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Delivery } from '@reliable-mq/engine';
import { startConsoleKit, type ConsoleKit, type Session } from './console-test-kit';

/**
 * The Backlog page and its API on the embedded engine: the report, the admin actions with their reasons, audit
 * entries and progress, and what an offset reset skips or delivers again.
 */

const TOPIC = 'bk-orders';
const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4'];
let kit: ConsoleKit;
let admin: Session;
let operator: Session;
let viewer: Session;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A group that joined once and went away: everything published since is its backlog. */
async function offlineGroup(group: string, topic: string): Promise<void> {
  const sub = await kit.engine.subscribe({ group, topic, startFrom: 'latest', handler: async () => undefined });
  await sub.close();
}

async function publish(topic: string, prefix: string, perKey: number): Promise<void> {
  const messages = [];
  for (let seq = 0; seq < perKey; seq++) {
    for (const key of KEYS) messages.push({ topic, key, messageId: `${prefix}-${key}-${seq}`, body: `${key}:${seq}` });
  }
  await kit.engine.publish(messages);
}

async function consume(group: string, topic: string): Promise<{ seen: Delivery[]; close: () => Promise<void> }> {
  const seen: Delivery[] = [];
  const sub = await kit.engine.subscribe({
    group,
    topic,
    mode: 'orderly',
    handler: async (delivery) => void seen.push(delivery),
  });
  return { seen, close: () => sub.close() };
}

async function auditOf(action: string): Promise<Array<Record<string, unknown>>> {
  const answer = await kit.call<{ items: Array<Record<string, unknown>> }>(
    'GET',
    `/api/audit?action=${encodeURIComponent(action)}`,
    { session: admin },
  );
  return answer.body.items;
}

beforeAll(async () => {
  kit = await startConsoleKit({
    console: { dedupWindows: { billing: null, 'short-window': 60_000, rewind: 60_000 } },
  });
  kit.engine.createTopic(TOPIC, { queueCount: 4 });
  // One after another: the console checks at most two logins of one address at once.
  admin = await kit.login('admin');
  operator = await kit.login('operator');
  viewer = await kit.login('viewer');
}, 60_000);

afterAll(async () => {
  await kit?.close();
});

describe('backlog report', () => {
  it('lists each group and topic by lag with lag in time, rates, members and the drain estimate', async () => {
    await offlineGroup('reporting', TOPIC);
    await publish(TOPIC, 'report', 6);
    const answer = await kit.call<{ entries: Array<Record<string, unknown>>; actions: Record<string, boolean> }>(
      'GET',
      '/api/backlog',
      { session: viewer },
    );
    expect(answer.status).toBe(200);
    expect(answer.body.actions).toEqual({ expand: true, redistribute: true, reset: true });
    const lags = answer.body.entries.map((entry) => entry.lag as number);
    expect(lags).toEqual([...lags].sort((a, b) => b - a));
    const entry = answer.body.entries.find((e) => e.group === 'reporting')!;
    expect(entry).toMatchObject({ topic: TOPIC, lag: 30, members: 0, queueCount: 4, dedupWindowMs: 7 * 86_400_000 });
    expect(entry.lagMs as number).toBeGreaterThanOrEqual(0);
    expect(['growing', 'stalled']).toContain((entry.drain as { state: string }).state);
  });

  it('renders the page sorted by lag, with actions for admins only, and the overview links to it', async () => {
    const asViewer = await kit.call('GET', '/backlog', { session: viewer });
    expect(asViewer.status).toBe(200);
    expect(asViewer.text).toContain('data-testid="backlog-table"');
    expect(asViewer.text).toContain('aria-sort="descending"');
    expect(asViewer.text).not.toContain('data-testid="backlog-expand-form"');
    const asAdmin = await kit.call('GET', '/backlog', { session: admin });
    expect(asAdmin.text).toContain('data-testid="backlog-expand-form"');
    expect(asAdmin.text).toContain('data-testid="backlog-redistribute-form"');
    expect(asAdmin.text).toContain('data-testid="backlog-reset-form"');
    expect((await kit.call('GET', '/backlog?sort=nope', { session: viewer })).status).toBe(400);
    expect((await kit.call('GET', '/', { session: viewer })).text).toContain('data-testid="overview-backlog-link"');
  });
});

describe('backlog actions', () => {
  it('need the admin role, a reason and valid values', async () => {
    const body = { topic: TOPIC, queueCount: 8, reason: 'more consumers' };
    expect((await kit.call('POST', '/api/backlog/expand', { session: operator, body })).status).toBe(403);
    expect((await kit.call('POST', '/api/backlog/expand', { session: admin, body, csrf: false })).status).toBe(403);
    const noReason = await kit.call<{ message: string[] }>('POST', '/api/backlog/expand', {
      session: admin,
      body: { topic: TOPIC, queueCount: 8 },
    });
    expect(noReason.status).toBe(400);
    expect(noReason.body.message.join(' ')).toMatch(/reason is required/);
    const bad = await kit.call('POST', '/api/backlog/expand', {
      session: admin,
      body: { topic: 'no spaces', queueCount: 'many', reason: 'x' },
    });
    expect(bad.status).toBe(400);
    const unknownTopic = await kit.call('POST', '/api/backlog/expand', {
      session: admin,
      body: { topic: 'missing-topic', queueCount: 8, reason: 'x' },
    });
    expect(unknownTopic.status).toBe(400);
    const notLarger = await kit.call<{ message: string }>('POST', '/api/backlog/expand', {
      session: admin,
      body: { topic: TOPIC, queueCount: 2, reason: 'x' },
    });
    expect(notLarger.status).toBe(400);
    expect(notLarger.body.message).toMatch(/already has 4 queues/);
    const badMove = await kit.call<{ message: string }>('POST', '/api/backlog/redistribute', {
      session: admin,
      body: { group: 'g', fromTopic: 'missing-topic', toTopic: `${TOPIC}.x`, toQueueCount: 4, reason: 'x' },
    });
    expect(badMove.status).toBe(400);
    expect(badMove.body.message).toMatch(/missing-topic/);
    const sameTopic = await kit.call<{ message: string }>('POST', '/api/backlog/redistribute', {
      session: admin,
      body: { group: 'g', fromTopic: TOPIC, toTopic: TOPIC, reason: 'x' },
    });
    expect(sameTopic.status).toBe(400);
    expect(sameTopic.body.message).toMatch(/two different topics/);
    const unknownGroup = await kit.call<{ message: string }>('POST', '/api/backlog/reset', {
      session: admin,
      body: { group: 'typo-group', topic: TOPIC, at: 0, reason: 'x' },
    });
    expect(unknownGroup.status).toBe(404);
    expect(unknownGroup.body.message).toMatch(/typo-group has never consumed topic/);
    const preview = await kit.call('GET', `/api/backlog/reset-preview?group=g&topic=${TOPIC}&at=yesterday`, {
      session: viewer,
    });
    expect(preview.status).toBe(400);
  });

  it('expands a topic, moves a group backlog with progress, each key in order, and audits both', async () => {
    await offlineGroup('mover', TOPIC);
    await publish(TOPIC, 'move', 40);
    const expanded = await kit.call<{ queueCount: number }>('POST', '/api/backlog/expand', {
      session: admin,
      body: { topic: TOPIC, queueCount: 16, reason: 'consumer fixed, scaling out' },
    });
    expect(expanded.status).toBe(200);
    expect(expanded.body.queueCount).toBe(16);
    const [expandAudit] = await auditOf('backlog.expand');
    expect(expandAudit).toMatchObject({
      actor: 'admin',
      target: `topic ${TOPIC}`,
      reason: 'consumer fixed, scaling out',
      outcome: 'ok',
      details: { topic: TOPIC, queueCount: 16, before: 4 },
    });

    const started = await kit.call<{ id: string; state: string }>('POST', '/api/backlog/redistribute', {
      session: admin,
      body: { group: 'mover', fromTopic: TOPIC, toQueueCount: 16, reason: 'drain faster' },
    });
    expect(started.status).toBe(202);
    let move: { state: string; moved: number; total: number } = { state: 'running', moved: 0, total: 0 };
    await until(async () => {
      move = (await kit.call<typeof move>('GET', `/api/backlog/moves/${started.body.id}`, { session: viewer })).body;
      return move.state !== 'running';
    }, 'the move to finish');
    expect(move).toMatchObject({ state: 'done', moved: 200, total: 200 });
    const [done] = await auditOf('backlog.redistribute.done');
    expect(done).toMatchObject({ count: 200, outcome: 'ok', reason: 'drain faster' });
    expect((await auditOf('backlog.redistribute'))[0]).toMatchObject({
      target: `group mover: ${TOPIC} → %BACKLOG%mover`,
      details: { toTopic: '%BACKLOG%mover', toQueueCount: 16 },
    });
    // Still the group's lag on its topic until consumed, now spread over 16 queues of its own.
    const lagNow = (
      await kit.call<{ entries: Array<{ group: string; topic: string; lag: number }> }>('GET', '/api/backlog', {
        session: viewer,
      })
    ).body.entries.find((e) => e.group === 'mover' && e.topic === TOPIC)!.lag;
    expect(lagNow).toBe(200);

    // The group's consumer of the topic, unchanged, gets the moved backlog, each key in order.
    const back = await consume('mover', TOPIC);
    await until(() => back.seen.length === 200, 'the moved backlog');
    expect(new Set(back.seen.map((d) => d.sourceTopic))).toEqual(new Set(['%BACKLOG%mover']));
    for (const key of KEYS) {
      const seqs = back.seen.filter((d) => d.key === key).map((d) => Number(d.body.toString().split(':')[1]));
      expect(seqs, key).toEqual(Array.from({ length: 40 }, (_, i) => i));
    }
    await back.close();
    const entries = (
      await kit.call<{ entries: Array<{ group: string; topic: string; lag: number }> }>('GET', '/api/backlog', {
        session: viewer,
      })
    ).body.entries;
    expect(entries.find((e) => e.group === 'mover' && e.topic === TOPIC)!.lag).toBe(0);
    expect((await kit.call('GET', `/api/backlog/moves/${crypto.randomUUID()}`, { session: viewer })).status).toBe(404);
  });

  it('skips exactly the messages stored before the time, shown first and counted in the audit entry', async () => {
    const topic = 'bk-skip';
    kit.engine.createTopic(topic, { queueCount: 3 });
    await offlineGroup('skipper', topic);
    await publish(topic, 'stale', 12);
    await sleep(30);
    const at = Date.now();
    await sleep(30);
    await publish(topic, 'fresh', 7);

    const preview = await kit.call<{ skipped: number; redelivered: number; dedupWarning: string | null }>(
      'GET',
      `/api/backlog/reset-preview?group=skipper&topic=${topic}&at=${at}`,
      { session: viewer },
    );
    expect(preview.body).toMatchObject({ skipped: 60, redelivered: 0, dedupWarning: null });
    const reset = await kit.call<{ skipped: number }>('POST', '/api/backlog/reset', {
      session: admin,
      body: { group: 'skipper', topic, at: new Date(at).toISOString(), reason: 'stale quotes are worthless' },
    });
    expect(reset.status).toBe(200);
    expect(reset.body.skipped).toBe(60);
    const [entry] = await auditOf('backlog.reset-offsets');
    expect(entry).toMatchObject({
      target: `group skipper on ${topic}`,
      count: 60,
      reason: 'stale quotes are worthless',
      details: { skipped: 60, redelivered: 0, at },
    });

    const after = await consume('skipper', topic);
    await until(() => after.seen.length === 35, 'the fresh messages');
    await sleep(100);
    expect(after.seen.map((d) => d.messageId.split('-')[0])).toEqual(Array(35).fill('fresh'));
    await after.close();
  });

  it('asks for confirmation before moving back past the dedup window', async () => {
    const topic = 'bk-rewind';
    kit.engine.createTopic(topic, { queueCount: 1 });
    const first = await consume('rewind', topic);
    await publish(topic, 'once', 2);
    await until(() => first.seen.length === 10, 'the first pass');
    await first.close();
    kit.clock.advance(120_000);
    const preview = await kit.call<{ redelivered: number; dedupWarning: string }>(
      'GET',
      `/api/backlog/reset-preview?group=rewind&topic=${topic}&at=0`,
      { session: viewer },
    );
    expect(preview.body.redelivered).toBe(10);
    expect(preview.body.dedupWarning).toMatch(/past the dedup window of rewind/);
    const body = { group: 'rewind', topic, at: 0, reason: 'replay after the fix' };
    const refused = await kit.call<{ code: string }>('POST', '/api/backlog/reset', { session: admin, body });
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('DEDUP_WINDOW_CONFIRMATION_REQUIRED');
    const confirmed = await kit.call('POST', '/api/backlog/reset', {
      session: admin,
      body: { ...body, confirmDedupWindow: true },
    });
    expect(confirmed.status).toBe(200);
    const [entry] = await auditOf('backlog.reset-offsets');
    expect(entry).toMatchObject({ count: 10, details: { redelivered: 10, dedupWindowConfirmed: true } });
    const again = await consume('rewind', topic);
    await until(() => again.seen.length === 10, 'the redelivered messages');
    await again.close();
  });
});
