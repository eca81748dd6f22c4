import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startConsoleKit, type ConsoleKit, type Session } from '../../libs/console/test/console-test-kit';
import { rawRequest, statusCounts, type RawAnswer } from './console-attack-kit';

const REFUSAL_ACTIONS = ['access.refused', 'auth.login.throttled', 'auth.login.refused', 'auth.login.busy'];

interface Entry {
  action: string;
  actor: string;
  target: string;
  count: number;
  outcome: string;
  details: Record<string, unknown> | null;
}

/** Runs `tasks` with at most `width` in flight: enough to be concurrent, bounded for a shared machine. */
async function inWaves<T>(tasks: Array<() => Promise<T>>, width: number): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < tasks.length) {
        const index = next++;
        results[index] = await tasks[index]!();
      }
    }),
  );
  return results;
}

/**
 * A flood of refused requests (403: a role too low, a missing CSRF token) and throttled logins (429) from many
 * addresses at once. Every refusal is counted in the audit log, and the log grows by a bounded number of entries
 * however long the flood.
 */
describe('auditing refusals under a flood', () => {
  let kit: ConsoleKit;
  let viewer: Session;
  let admin: Session;

  beforeAll(async () => {
    kit = await startConsoleKit();
    // Entries are aggregated per hour: start the flood at the start of an hour, so it stays inside one.
    const now = kit.clock.now();
    kit.clock.advance(3_600_000 - (now % 3_600_000) + 1_000);
    viewer = await kit.login('viewer');
    admin = await kit.login('admin');
  });
  afterAll(async () => kit?.close());

  const auditEntries = async (): Promise<{ total: number; items: Entry[] }> => {
    const answer = await kit.call<{ total: number; items: Entry[] }>('GET', '/api/audit?limit=500', {
      session: admin,
    });
    return answer.body;
  };

  it('records every 403 and 429, aggregated into at most 51 entries an hour', async () => {
    const before = (await auditEntries()).total;
    const tasks: Array<() => Promise<RawAnswer>> = [];
    for (let index = 0; index < 1200; index++) {
      const from = `127.0.5.${(index % 12) + 1}`;
      if (index % 3 === 0) {
        // A viewer probing admin routes, each with another id: many distinct targets.
        tasks.push(() =>
          rawRequest(`${kit.url}/api/admin/users/probe-${index}`, {
            method: 'DELETE',
            headers: { cookie: viewer.cookie, 'x-csrf-token': viewer.csrf },
            from,
          }),
        );
      } else if (index % 3 === 1) {
        // A forged request riding on the admin's cookie, without the CSRF token.
        tasks.push(() =>
          rawRequest(`${kit.url}/api/admin/settings`, {
            method: 'PUT',
            headers: { cookie: admin.cookie, 'content-type': 'application/json' },
            body: '{"stuckAfterMs":60000}',
            from,
          }),
        );
      } else {
        tasks.push(() =>
          rawRequest(`${kit.url}/api/auth/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ username: 'admin', password: `guess ${index}` }),
            from,
          }),
        );
      }
    }
    const answers = await inWaves(tasks, 40);
    const counts = statusCounts(answers);
    console.log(`[refusal flood] ${answers.length} requests from 12 addresses: ${JSON.stringify(counts)}`);
    expect(counts[200] ?? 0).toBe(0);
    expect(counts[403]).toBe(800);
    expect((counts[429] ?? 0) + (counts[401] ?? 0)).toBe(400);

    const { total, items } = await auditEntries();
    const added = items.slice(0, total - before);
    const refusals = added.filter(
      (entry) =>
        REFUSAL_ACTIONS.includes(entry.action) ||
        entry.action === 'audit.refusals.overflow' ||
        (entry.action === 'auth.login' && entry.outcome === 'failed'),
    );
    console.log(
      `[refusal flood] audit entries added: ${added.length} (${refusals.length} for refusals and failed logins)`,
    );
    expect(added.length).toBeLessThanOrEqual(51);
    expect(refusals).toHaveLength(added.length);
    // Every refusal and failed login is counted, in its own entry or in the overflow entry.
    expect(refusals.reduce((sum, entry) => sum + entry.count, 0)).toBe(1200);
    const overflow = refusals.find((entry) => entry.action === 'audit.refusals.overflow');
    expect(overflow?.details?.byAction).toBeDefined();
    // The kinds seen before the overflow say who, what and from where.
    const csrf = refusals.find((entry) => entry.action === 'access.refused' && entry.details?.why === 'csrf');
    expect(csrf).toMatchObject({ actor: 'admin', outcome: 'refused' });
    expect(csrf!.target).toMatch(/^PUT \/console\/api\/admin\/settings from 127\.0\.5\.\d+$/);
    const throttled = refusals.find((entry) => entry.action === 'auth.login.throttled');
    expect(throttled?.details).toMatchObject({ status: 429 });

    // A second flood in the same hour adds no entry: it only raises counts.
    const again = await inWaves(
      Array.from(
        { length: 300 },
        (_, index) => () =>
          rawRequest(`${kit.url}/api/admin/settings`, {
            method: 'PUT',
            headers: { cookie: admin.cookie, 'content-type': 'application/json' },
            body: '{}',
            from: `127.0.5.${(index % 12) + 1}`,
          }),
      ),
      40,
    );
    expect(statusCounts(again)).toEqual({ 403: 300 });
    const after = await auditEntries();
    expect(after.total).toBe(total);
    const recounted = after.items
      .slice(0, after.total - before)
      .reduce((sum, entry) => sum + (entry.outcome === 'ok' ? 0 : entry.count), 0);
    expect(recounted).toBe(1500);
  });
});
