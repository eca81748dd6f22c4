import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_DELAYS } from './sample';
import { DEFAULT_BROKER_RESTART_LIMITS } from './broker-restart-policy';
import { readProcessesConfig } from './processes-config';

describe('readProcessesConfig', () => {
  it('defaults: services on 3001 and 3002, console on 3003, broker on 7420, data in ./data', () => {
    expect(readProcessesConfig({}, '/srv/app')).toEqual({
      ok: true,
      config: {
        dataDir: '/srv/app/data',
        host: '127.0.0.1',
        orderPort: 3001,
        paymentPort: 3002,
        consolePort: 3003,
        brokerPort: 7420,
        brokerToken: undefined,
        retryDelays: DEFAULT_RETRY_DELAYS,
        demoPassword: undefined,
        brokerRestart: { firstDelayMs: 500, maxDelayMs: 10_000, maxRestarts: 5, windowMs: 60_000 },
      },
    });
  });

  it('takes the broker port and token, and the demo password', () => {
    const result = readProcessesConfig(
      { BROKER_PORT: '9000', BROKER_TOKEN: 'a-long-token', CONSOLE_DEMO_PASSWORD: 'password1', DATA_DIR: '/d' },
      '/srv/app',
    );
    expect(result).toMatchObject({
      ok: true,
      config: { brokerPort: 9000, brokerToken: 'a-long-token', demoPassword: 'password1', dataDir: '/d' },
    });
  });

  it('refuses bad or clashing settings', () => {
    const errorsOf = (env: NodeJS.ProcessEnv): string[] => {
      const result = readProcessesConfig(env, '/srv/app');
      return result.ok ? [] : result.errors;
    };
    expect(errorsOf({ BROKER_PORT: '65535', BROKER_TOKEN: 'short' })).toEqual([
      'BROKER_PORT must be a port number from 1 to 65534 (its health endpoint takes the next one), or 0 for any free port; got "65535".',
      'BROKER_TOKEN must be 8 to 1024 characters (or unset: a random token is made for the run).',
    ]);
    expect(errorsOf({ CONSOLE_PORT: '3001', BROKER_PORT: '3002' })).toEqual([
      'ORDER_PORT and CONSOLE_PORT are both 3001; each part of the sample needs its own port.',
      'PAYMENT_PORT and BROKER_PORT are both 3002; each part of the sample needs its own port.',
    ]);
    expect(errorsOf({ BROKER_PORT: '3000' })).toEqual([
      'ORDER_PORT and the broker health port (BROKER_PORT + 1) are both 3001; each part of the sample needs its own port.',
    ]);
    expect(errorsOf({ ORDER_PORT: '0', PAYMENT_PORT: '0', CONSOLE_PORT: '0', BROKER_PORT: '0' })).toEqual([]);
  });

  it('RABBITMQ_URL with DATABASE_URL: the services on RabbitMQ and PostgreSQL, no broker process', () => {
    const result = readProcessesConfig(
      {
        RABBITMQ_URL: ' amqp://guest:guest@rabbit:5672 ',
        DATABASE_URL: 'postgres://u@db/shop',
        // The broker's ports take nothing in this mode.
        BROKER_PORT: '3003',
      },
      '/srv/app',
    );
    expect(result).toMatchObject({
      ok: true,
      config: {
        rabbitmq: { url: 'amqp://guest:guest@rabbit:5672', databaseUrl: 'postgres://u@db/shop', prefix: 'rmq' },
      },
    });
    expect(
      readProcessesConfig(
        { RABBITMQ_URL: 'amqp://rabbit', DATABASE_URL: 'postgres://u@db/shop', RABBITMQ_PREFIX: 'shop' },
        '/srv/app',
      ),
    ).toMatchObject({ ok: true, config: { rabbitmq: { prefix: 'shop' } } });
    const defaults = readProcessesConfig({}, '/srv/app');
    expect(defaults.ok && 'rabbitmq' in defaults.config).toBe(false);
  });

  it('refuses one of RABBITMQ_URL and DATABASE_URL without the other, and a bad prefix', () => {
    const errorsOf = (env: NodeJS.ProcessEnv): string[] => {
      const result = readProcessesConfig(env, '/srv/app');
      return result.ok ? [] : result.errors;
    };
    expect(errorsOf({ RABBITMQ_URL: 'amqp://rabbit' })).toEqual([
      'RABBITMQ_URL needs DATABASE_URL too: npm start runs the services on RabbitMQ only with their outboxes in ' +
        'PostgreSQL; set both (or neither, for the broker process with SQLite).',
    ]);
    expect(errorsOf({ DATABASE_URL: 'postgres://u@db/x' })).toEqual([
      "DATABASE_URL needs RABBITMQ_URL too: npm start keeps the services' data in PostgreSQL only when they run on " +
        'RabbitMQ; set both (or neither, for the broker process with SQLite).',
    ]);
    expect(errorsOf({ RABBITMQ_PREFIX: 'shop' })).toEqual([
      'RABBITMQ_PREFIX applies only with RABBITMQ_URL and DATABASE_URL; remove it.',
    ]);
    expect(
      errorsOf({ RABBITMQ_URL: 'amqp://rabbit', DATABASE_URL: 'postgres://u@db/x', RABBITMQ_PREFIX: 'amq.shop' }),
    ).toEqual([
      'RABBITMQ_PREFIX must be 1-32 letters, digits, ".", "_" or "-", not starting with "amq."; got "amq.shop".',
    ]);
    expect(errorsOf({ RABBITMQ_URL: 'http://rabbit', DATABASE_URL: 'mysql://u@db/x' })).toEqual([
      'RABBITMQ_URL must look like amqp://user:password@host:5672 (or amqps://); for a cluster, separate the node URLs with commas.',
      'DATABASE_URL must be a PostgreSQL URL such as postgres://postgres@127.0.0.1:5432/sample.',
    ]);
  });

  it('SAMPLE_BROKER_RESTARTS (for tests) moves the broker restart limit, or turns restarts off', () => {
    const limitsOf = (value: string): unknown => {
      const result = readProcessesConfig({ SAMPLE_BROKER_RESTARTS: value }, '/srv/app');
      return result.ok ? result.config.brokerRestart : result.errors;
    };
    expect(limitsOf('2 in 30s')).toEqual({ ...DEFAULT_BROKER_RESTART_LIMITS, maxRestarts: 2, windowMs: 30_000 });
    expect(limitsOf(' 100 in 24h ')).toEqual({
      ...DEFAULT_BROKER_RESTART_LIMITS,
      maxRestarts: 100,
      windowMs: 86_400_000,
    });
    expect(limitsOf('0')).toEqual({ ...DEFAULT_BROKER_RESTART_LIMITS, maxRestarts: 0 });
    expect(limitsOf('')).toEqual(DEFAULT_BROKER_RESTART_LIMITS);
    const rule =
      'SAMPLE_BROKER_RESTARTS must be "<restarts> in <window>" with 0 to 100 restarts in 1s to 24h, such as ' +
      '"5 in 60s", or "0" to never restart the broker;';
    expect(limitsOf('five')).toEqual([`${rule} got "five" (not of that form).`]);
    expect(limitsOf('-1 in 60s')).toEqual([`${rule} got "-1 in 60s" (not of that form).`]);
    expect(limitsOf('101 in 60s')).toEqual([`${rule} got "101 in 60s" (more than 100 restarts).`]);
    expect(limitsOf('5 in soon')).toEqual([`${rule} got "5 in soon" (the window "soon" is not a duration).`]);
    expect(limitsOf('5 in 500ms')).toEqual([`${rule} got "5 in 500ms" (the window is out of range).`]);
    expect(limitsOf('5 in 2d')).toEqual([`${rule} got "5 in 2d" (the window is out of range).`]);
  });
});
