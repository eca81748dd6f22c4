import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readConsoleConfig } from './console-config';

const dir = mkdtempSync(join(tmpdir(), 'rmq-console-config-'));
const usersFile = join(dir, 'users.json');
writeFileSync(usersFile, JSON.stringify([{ username: 'alice', passwordHash: 'scrypt$...', role: 'operator' }]));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readConsoleConfig', () => {
  it('reads ports, broker directory, service databases, users and dedup windows, with defaults', () => {
    const result = readConsoleConfig(
      {
        CONSOLE_USERS_FILE: usersFile,
        SERVICE_DATABASES:
          'orders=sqlite:data/orders.sqlite, payments=postgres://u@db/payments,legacy=mariadb://u@db/legacy',
        CONSOLE_DEDUP_WINDOWS: 'payment-service=none,order-service=7d',
      },
      '/srv',
    );
    expect(result).toEqual({
      ok: true,
      config: {
        port: 3003,
        host: '127.0.0.1',
        path: '/console',
        brokerDataDir: '/srv/data/broker',
        services: [
          { name: 'orders', type: 'better-sqlite3', location: '/srv/data/orders.sqlite' },
          { name: 'payments', type: 'postgres', location: 'postgres://u@db/payments' },
          { name: 'legacy', type: 'mysql', location: 'mysql://u@db/legacy' },
        ],
        users: [{ username: 'alice', passwordHash: 'scrypt$...', role: 'operator' }],
        tokens: [],
        storeFile: '/srv/data/console.sqlite',
        dedupWindows: { 'payment-service': null, 'order-service': 7 * 24 * 3_600_000 },
        secureCookies: 'auto',
      },
    });
  });

  it('refuses bad settings with one sentence each', () => {
    const result = readConsoleConfig({
      CONSOLE_PORT: 'x',
      BROKER_URL: 'rmq://broker:5577',
      SERVICE_DATABASES: 'orders,bad=ftp://x',
      CONSOLE_DEDUP_WINDOWS: 'g=soon',
      CONSOLE_SECURE_COOKIES: 'maybe',
    });
    expect(result.ok).toBe(false);
    const errors = (result as { errors: string[] }).errors;
    expect(errors).toEqual([
      'CONSOLE_PORT must be a port number from 1 to 65535 (or 0 for any free port); got "x".',
      expect.stringContaining('BROKER_URL: this build operates an embedded broker data directory only'),
      'SERVICE_DATABASES: "orders" must be name=url, e.g. orders=sqlite:data/orders.sqlite.',
      'SERVICE_DATABASES: bad must use sqlite:<file>, postgres://... or mysql://...; got "ftp:".',
      expect.stringContaining('CONSOLE_USERS_FILE is required: the console never allows anonymous access.'),
      expect.stringContaining('CONSOLE_DEDUP_WINDOWS g must be milliseconds or a duration'),
      'CONSOLE_SECURE_COOKIES must be true, false or auto; got "maybe".',
    ]);
  });
});
