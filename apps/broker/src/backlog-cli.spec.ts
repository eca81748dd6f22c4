import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnTs } from '../../../test/support/spawn-ts';
import { runBacklogCommand } from './backlog-cli';
import { startInProcessBroker, type InProcessBroker } from '../test/in-process-broker';
import type { BrokerServer } from './broker-server';

const TOKEN = 'cli-client-token';
const ADMIN = 'cli-admin-token';
let broker: InProcessBroker | undefined;
let server: BrokerServer;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  broker = await startInProcessBroker({
    token: TOKEN,
    adminToken: ADMIN,
    topics: [{ name: 'cli-orders', queueCount: 2 }],
  });
  server = broker.server;
  env = { BROKER_URL: `reliable-mq://127.0.0.1:${server.address.port}`, BROKER_ADMIN_TOKEN: ADMIN };
  const engine = server.engine;
  const sub = await engine.subscribe({ group: 'cli-group', topic: 'cli-orders', handler: async () => undefined });
  await sub.close();
  await engine.publish(
    Array.from({ length: 30 }, (_, i) => ({ topic: 'cli-orders', key: `k${i % 3}`, body: `m${i}` })),
  );
}, 30_000);

afterAll(async () => {
  await broker?.dispose();
});

describe('backlog commands of the broker CLI', () => {
  it('reports, previews and resets only with --yes, expands and redistributes', async () => {
    expect(await runBacklogCommand(['report'], env)).toMatch(
      /^group\s+topic\s+lag[\s\S]*cli-group\s+cli-orders\s+30\s/m,
    );
    const future = new Date(Date.now() + 60_000).toISOString();
    expect(await runBacklogCommand(['preview-reset', 'cli-group', 'cli-orders', future], env)).toContain('skipped: 30');
    await expect(runBacklogCommand(['reset', 'cli-group', 'cli-orders', future], env)).rejects.toThrow(
      /skipped: 30[\s\S]*Nothing was changed: add --yes/,
    );
    expect(await runBacklogCommand(['expand', 'cli-orders', '8'], env)).toBe('topic cli-orders now has 8 queues');
    expect(
      await runBacklogCommand(['redistribute', 'cli-group', 'cli-orders', 'cli-orders.wide', '--queues', '8'], env),
    ).toMatch(/^moved 30 message\(s\) of cli-group from cli-orders onto cli-orders.wide/);
    expect(await runBacklogCommand(['reset', 'cli-group', 'cli-orders.wide', future, '--yes'], env)).toMatch(
      /^reset done[\s\S]*skipped: 30/,
    );
    // Without a target topic, onto queues of the group's own, which its consumers read as they are.
    expect(
      await runBacklogCommand(['redistribute', 'cli-group', 'cli-orders', '--queues', '4', '--expand', '12'], env),
    ).toBe(
      'moved 0 message(s) of cli-group from cli-orders onto its own backlog topic %BACKLOG%cli-group, which its consumers of cli-orders read as they are',
    );
  });

  it('says what is wrong: the token, the time, the command, the broker', async () => {
    await expect(runBacklogCommand(['redistribute', 'g', 'cli-orders', '--expand', '2'], env)).rejects.toThrow(
      /already has \d+ queues/,
    );
    await expect(
      runBacklogCommand(['expand', 'cli-orders', '16'], { ...env, BROKER_ADMIN_TOKEN: '', BROKER_TOKEN: TOKEN }),
    ).rejects.toThrow(/admin token.*BROKER_ADMIN_TOKEN/);
    await expect(runBacklogCommand(['preview-reset', 'g', 'cli-orders', 'yesterday'], env)).rejects.toThrow(
      /epoch milliseconds or ISO 8601 with a zone/,
    );
    await expect(runBacklogCommand(['shrink'], env)).rejects.toThrow(/Unknown backlog command "shrink"/);
    await expect(runBacklogCommand(['expand', 'cli-orders'], env)).rejects.toThrow(/Usage: backlog expand/);
    await expect(runBacklogCommand(['report'], { BROKER_URL: 'http://x' })).rejects.toThrow(
      /BROKER_URL must look like/,
    );
    expect(await runBacklogCommand([], env)).toContain('Usage: reliable-mq-broker backlog <command>');
  });

  it('runs as the broker bin subcommand and exits 0 or 1', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawnTs('apps/broker/src/main.ts', ['backlog', ...args], { env });
        let out = '';
        child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.once('close', (code) => resolve({ code, out }));
      });
    const report = await run(['report']);
    expect(report).toMatchObject({ code: 0, out: expect.stringContaining('cli-group') });
    const refused = await run(['reset', 'cli-group', 'cli-orders', '0']);
    expect(refused.code).toBe(1);
    expect(refused.out).toContain('add --yes');
  }, 60_000);
});
