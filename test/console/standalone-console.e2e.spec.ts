import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerEngine } from '@reliable-mq/engine';
import { runReliableMqMigrations } from '@reliable-mq/nestjs';
import { hashConsolePassword, hashConsoleToken, verifyConsolePassword } from '@reliable-mq/console';
import { DataSource } from 'typeorm';
import { freePort } from '../support/free-port';
import { runConsole, type ConsoleRun } from './standalone-console-kit';

const PASSWORD = 'standalone password';

const children: ChildProcess[] = [];

function run(args: string[], env: Record<string, string>, stdin?: string): ConsoleRun {
  return runConsole(args, env, children, stdin);
}

describe('npm run console (standalone)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rmq-standalone-console-'));
  const usersFile = join(dir, 'users.json');
  const brokerDir = join(dir, 'broker');
  const ordersFile = join(dir, 'orders.sqlite');

  beforeAll(async () => {
    writeFileSync(
      usersFile,
      JSON.stringify([
        { username: 'alice', passwordHash: await hashConsolePassword(PASSWORD, { cost: 10 }), role: 'operator' },
      ]),
    );
    // A broker directory with one dead letter, left by a service that has stopped.
    const engine = BrokerEngine.open({ dataDir: brokerDir, flush: 'async', minFreeDiskBytes: 0 });
    engine.createTopic('orders');
    const subscription = await engine.subscribe({
      group: 'billing',
      topic: 'orders',
      startFrom: 'earliest',
      handler: async () => {
        throw Object.assign(new Error('card declined'), { nonRetryable: true });
      },
    });
    await engine.publish([{ topic: 'orders', key: 'o-1', body: '{"orderId":"o-1"}' }]);
    const deadline = Date.now() + 10_000;
    while (engine.listDeadLetters({}).total === 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 10));
    await subscription.close();
    await engine.close();
    // A service database with a dead outbox row.
    const dataSource = await new DataSource({ type: 'better-sqlite3', database: ordersFile }).initialize();
    await runReliableMqMigrations(dataSource);
    await dataSource.query(
      `INSERT INTO rmq_outbox (id, producer_group, topic, msg_key, headers, payload, status, attempts, next_attempt_at, created_at, last_error)
       VALUES ('0190a000-0000-7000-8000-000000000001', 'orders', 'orders', 'o-2', '{}', '{}', 'dead', 20, 0, 0, 'refused')`,
    );
    await dataSource.destroy();
  });
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the console over an embedded broker directory and a service database, behind login', async () => {
    const port = await freePort();
    const server = run([], {
      CONSOLE_PORT: String(port),
      BROKER_DATA_DIR: brokerDir,
      SERVICE_DATABASES: `orders=sqlite:${ordersFile}`,
      CONSOLE_USERS_FILE: usersFile,
      CONSOLE_STORE: join(dir, 'console.sqlite'),
    });
    const deadline = Date.now() + 60_000;
    while (!server.output().includes('ReliableMQ console: ')) {
      if (server.child.exitCode !== null || Date.now() > deadline)
        throw new Error(`${server.output()}\n${server.errors()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const base = `http://127.0.0.1:${port}/console`;
    expect(server.output()).toContain(`ReliableMQ console: ${base} (broker data in ${brokerDir})`);
    expect((await fetch(`${base}/api/dead-letters`)).status).toBe(401);
    const login = await fetch(`${base}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice', password: PASSWORD }),
    });
    expect(login.status).toBe(200);
    const { csrfToken } = (await login.json()) as { csrfToken: string };
    const headers = { cookie: login.headers.get('set-cookie')!.split(';')[0]!, 'x-csrf-token': csrfToken };
    const letters = (await (await fetch(`${base}/api/dead-letters`, { headers })).json()) as {
      total: number;
      items: Array<{ id: number; reason: string }>;
    };
    expect(letters.total).toBe(1);
    expect(letters.items[0]!.reason).toContain('card declined');
    const outbox = (await (await fetch(`${base}/api/outbox`, { headers })).json()) as {
      services: Array<{ name: string; counts: { dead: number } }>;
    };
    expect(outbox.services).toEqual([
      expect.objectContaining({ name: 'orders', counts: expect.objectContaining({ dead: 1 }) }),
    ]);
    const discard = await fetch(`${base}/api/dead-letters/${letters.items[0]!.id}/discard`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'customer cancelled' }),
    });
    expect(discard.status).toBe(200);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    // The discard reached the broker's own data.
    const engine = BrokerEngine.open({ dataDir: brokerDir, flush: 'async', minFreeDiskBytes: 0 });
    try {
      expect(engine.listDeadLetters({ status: 'any' }).items[0]).toMatchObject({
        status: 'discarded',
        statusReason: 'customer cancelled',
      });
    } finally {
      await engine.close();
    }
  });

  it('makes password hashes and tokens, and refuses to start without users', async () => {
    const hashing = run(['hash-password'], {}, `${PASSWORD}\n`);
    expect(await hashing.exited).toBe(0);
    const hash = hashing.output().trim();
    expect(hash).toMatch(/^scrypt\$15\$8\$1\$/);
    expect(await verifyConsolePassword(PASSWORD, hash)).toBe(true);
    const short = run(['hash-password'], {}, 'short\n');
    expect(await short.exited).toBe(2);

    const token = run(['new-token'], {});
    expect(await token.exited).toBe(0);
    const [, value] = /token \(give it to the script; shown once\): (\S+)/.exec(token.output())!;
    const [, tokenHash] = /tokenHash \(for CONSOLE_TOKENS_FILE\): +(\S+)/.exec(token.output())!;
    expect(tokenHash).toBe(hashConsoleToken(value!));

    const refused = run([], {
      CONSOLE_PORT: String(await freePort()),
      BROKER_DATA_DIR: brokerDir,
      CONSOLE_USERS_FILE: '',
    });
    expect(await refused.exited).toBe(2);
    expect(refused.errors()).toContain('CONSOLE_USERS_FILE is required: the console never allows anonymous access.');
    expect(refused.errors()).toContain('SERVICE_DATABASES');
  });
});
