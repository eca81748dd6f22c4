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
        broker: { kind: 'embedded', dataDir: '/srv/data/broker' },
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
        redact: [],
      },
    });
  });

  it('reads the payload fields to mask, and refuses a malformed one', () => {
    const result = readConsoleConfig({
      CONSOLE_USERS_FILE: usersFile,
      CONSOLE_REDACT: 'card:4, customer.email,items.*.iban:2',
    });
    expect(result.ok && result.config.redact).toEqual([
      { path: 'card', showLast: 4 },
      { path: 'customer.email', showLast: 0 },
      { path: 'items.*.iban', showLast: 2 },
    ]);
    const bad = readConsoleConfig({ CONSOLE_USERS_FILE: usersFile, CONSOLE_REDACT: 'card:9,a..b' });
    expect(bad.ok ? [] : bad.errors).toEqual([
      expect.stringContaining('CONSOLE_REDACT: "card:9" must be a payload field path'),
      expect.stringContaining('CONSOLE_REDACT: "a..b" must be a payload field path'),
    ]);
  });

  it('refuses bad settings with one sentence each', () => {
    const result = readConsoleConfig({
      CONSOLE_PORT: 'x',
      BROKER_DATA_DIR: 'data/broker',
      BROKER_TOKEN: 'secret-token',
      SERVICE_DATABASES: 'orders,bad=ftp://x',
      CONSOLE_DEDUP_WINDOWS: 'g=soon',
      CONSOLE_SECURE_COOKIES: 'maybe',
    });
    expect(result.ok).toBe(false);
    const errors = (result as { errors: string[] }).errors;
    expect(errors).toEqual([
      'CONSOLE_PORT must be a port number from 1 to 65535 (or 0 for any free port); got "x".',
      'BROKER_TOKEN applies only with BROKER_URL, but the console is set to an embedded broker directory ' +
        '(BROKER_DATA_DIR); remove it.',
      'SERVICE_DATABASES: "orders" must be name=url, e.g. orders=sqlite:data/orders.sqlite.',
      'SERVICE_DATABASES: bad must use sqlite:<file>, postgres://... or mysql://...; got "ftp:".',
      expect.stringContaining('CONSOLE_USERS_FILE is required: the console never allows anonymous access.'),
      expect.stringContaining('CONSOLE_DEDUP_WINDOWS g must be milliseconds or a duration'),
      'CONSOLE_SECURE_COOKIES must be true, false or auto; got "maybe".',
    ]);
  });

  const base = { CONSOLE_USERS_FILE: usersFile };
  const errorsOf = (env: NodeJS.ProcessEnv): string[] => {
    const result = readConsoleConfig({ ...base, ...env }, '/srv');
    return result.ok ? [] : result.errors;
  };

  it('takes a standalone broker: BROKER_URL with BROKER_TOKEN', () => {
    const result = readConsoleConfig(
      {
        ...base,
        BROKER_URL: 'reliable-mq://broker.internal:7420',
        BROKER_TOKEN: 't0ken',
        BROKER_CONNECT_TIMEOUT: '3s',
      },
      '/srv',
    );
    expect(result.ok && result.config.broker).toEqual({
      kind: 'remote',
      url: 'reliable-mq://broker.internal:7420',
      token: 't0ken',
      connectTimeoutMs: 3_000,
    });
    const noToken = readConsoleConfig({ ...base, BROKER_URL: 'reliable-mq://127.0.0.1' }, '/srv');
    expect(noToken.ok && noToken.config.broker).toEqual({
      kind: 'remote',
      url: 'reliable-mq://127.0.0.1',
      token: undefined,
      connectTimeoutMs: 10_000,
    });
  });

  it('takes RabbitMQ: RABBITMQ_URL with the groups whose DLQs to show, and a prefix', () => {
    const result = readConsoleConfig(
      {
        ...base,
        RABBITMQ_URL: 'amqp://guest:guest@127.0.0.1:5672',
        RABBITMQ_DLQ_GROUPS: 'payment-service, order-service,payment-service',
        RABBITMQ_PREFIX: 'shop',
      },
      '/srv',
    );
    expect(result.ok && result.config.broker).toEqual({
      kind: 'rabbitmq',
      url: 'amqp://guest:guest@127.0.0.1:5672',
      prefix: 'shop',
      groups: ['payment-service', 'order-service'],
      connectTimeoutMs: 10_000,
    });
  });

  it('takes the nodes of a RabbitMQ cluster as a comma-separated RABBITMQ_URL, and checks each', () => {
    const nodes =
      'amqp://guest:guest@127.0.0.1:5681, amqp://guest:guest@127.0.0.1:5682,amqp://guest:guest@127.0.0.1:5683';
    const result = readConsoleConfig({ ...base, RABBITMQ_URL: nodes, RABBITMQ_DLQ_GROUPS: 'payments' }, '/srv');
    expect(result.ok && result.config.broker).toMatchObject({ kind: 'rabbitmq', url: nodes });
    expect(
      errorsOf({
        RABBITMQ_URL: 'amqp://guest:guest@rabbit-1,http://guest:secret@rabbit-2',
        RABBITMQ_DLQ_GROUPS: 'payments',
      }),
    ).toEqual([
      'RABBITMQ_URL must look like amqp://user:password@host:5672 (or amqps://; for a cluster, node URLs separated by commas); got "http://guest:***@rabbit-2".',
    ]);
  });

  it('refuses two broker sources, naming both', () => {
    expect(errorsOf({ BROKER_URL: 'reliable-mq://127.0.0.1:7420', RABBITMQ_URL: 'amqp://127.0.0.1' })).toEqual([
      'BROKER_URL and RABBITMQ_URL are both set; the console operates one broker: set only one of BROKER_DATA_DIR ' +
        '(an embedded broker directory), BROKER_URL (a standalone broker) or RABBITMQ_URL (RabbitMQ).',
    ]);
    expect(errorsOf({ BROKER_DATA_DIR: 'data/broker', BROKER_URL: 'reliable-mq://127.0.0.1:7420' })[0]).toContain(
      'BROKER_DATA_DIR and BROKER_URL are both set',
    );
  });

  it('refuses a bad BROKER_URL, a bad RabbitMQ setting, and settings of another source', () => {
    expect(errorsOf({ BROKER_URL: 'rmq://broker:5577' })).toEqual([
      'BROKER_URL: the URL must start with reliable-mq://, e.g. reliable-mq://127.0.0.1:7420; got rmq://.',
    ]);
    expect(errorsOf({ BROKER_URL: 'reliable-mq://user:secret@broker' })).toEqual([
      'BROKER_URL: put the token in `token` (or BROKER_TOKEN), not in the URL, where logs would show it.',
    ]);
    expect(errorsOf({ BROKER_URL: 'reliable-mq://broker:99999' })[0]).toContain('BROKER_URL:');
    expect(errorsOf({ BROKER_URL: 'reliable-mq://broker', BROKER_CONNECT_TIMEOUT: 'soon' })[0]).toContain(
      'BROKER_CONNECT_TIMEOUT',
    );
    expect(errorsOf({ BROKER_URL: 'reliable-mq://broker', BROKER_CONNECT_TIMEOUT: '1h' })).toEqual([
      'BROKER_CONNECT_TIMEOUT must be from 100ms to 10m; got "1h".',
    ]);
    expect(
      errorsOf({ BROKER_URL: 'reliable-mq://broker', RABBITMQ_DLQ_GROUPS: 'payments', RABBITMQ_PREFIX: 'x' }),
    ).toEqual([
      'RABBITMQ_DLQ_GROUPS applies only with RABBITMQ_URL, but the console is set to BROKER_URL; remove it.',
      'RABBITMQ_PREFIX applies only with RABBITMQ_URL, but the console is set to BROKER_URL; remove it.',
    ]);
    expect(errorsOf({ RABBITMQ_URL: 'http://guest:guest@rabbit:15672' })).toEqual([
      'RABBITMQ_URL must look like amqp://user:password@host:5672 (or amqps://; for a cluster, node URLs separated by commas); got "http://guest:***@rabbit:15672".',
      expect.stringContaining('RABBITMQ_DLQ_GROUPS is required with RABBITMQ_URL'),
    ]);
    expect(
      errorsOf({ RABBITMQ_URL: 'amqp://rabbit', RABBITMQ_DLQ_GROUPS: 'ok,bad group', RABBITMQ_PREFIX: 'amq.x' }),
    ).toEqual([
      expect.stringContaining('RABBITMQ_PREFIX must be 1-32 letters'),
      expect.stringMatching(/^RABBITMQ_DLQ_GROUPS: .*bad group/),
    ]);
    expect(errorsOf({ BROKER_CONNECT_TIMEOUT: '5s' })).toEqual([
      'BROKER_CONNECT_TIMEOUT applies only with BROKER_URL or RABBITMQ_URL, but the console is set to an embedded ' +
        'broker directory (BROKER_DATA_DIR); remove it.',
    ]);
  });
});
