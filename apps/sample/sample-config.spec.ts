import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_DELAYS } from './sample';
import { readSampleConfig } from './sample-config';

describe('readSampleConfig', () => {
  it('defaults to ports 3001 and 3002 on 127.0.0.1, data in ./data', () => {
    expect(readSampleConfig({}, '/srv/app')).toEqual({
      ok: true,
      options: {
        orderPort: 3001,
        paymentPort: 3002,
        host: '127.0.0.1',
        dataDir: '/srv/app/data',
        retryDelays: DEFAULT_RETRY_DELAYS,
      },
    });
  });

  it('takes ORDER_PORT, PAYMENT_PORT, HOST, DATA_DIR and PAYMENT_RETRY_DELAYS', () => {
    const env = {
      ORDER_PORT: '8081',
      PAYMENT_PORT: ' 8082 ',
      HOST: '0.0.0.0',
      DATA_DIR: 'var/sample',
      PAYMENT_RETRY_DELAYS: '100ms 1s',
    };
    expect(readSampleConfig(env, '/srv/app')).toEqual({
      ok: true,
      options: {
        orderPort: 8081,
        paymentPort: 8082,
        host: '0.0.0.0',
        dataDir: '/srv/app/var/sample',
        retryDelays: '100ms 1s',
      },
    });
    expect(readSampleConfig({ DATA_DIR: '/data/rmq' }, '/srv/app')).toMatchObject({
      options: { dataDir: '/data/rmq' },
    });
  });

  it('lets both ports be 0 (any free port)', () => {
    expect(readSampleConfig({ ORDER_PORT: '0', PAYMENT_PORT: '0' })).toMatchObject({
      ok: true,
      options: { orderPort: 0, paymentPort: 0 },
    });
  });

  it.each([
    [{ ORDER_PORT: 'abc' }, 'ORDER_PORT must be a port number from 1 to 65535 (or 0 for any free port); got "abc".'],
    [{ PAYMENT_PORT: '-1' }, 'PAYMENT_PORT must be a port number from 1 to 65535 (or 0 for any free port); got "-1".'],
    [
      { PAYMENT_PORT: '65536' },
      'PAYMENT_PORT must be a port number from 1 to 65535 (or 0 for any free port); got "65536".',
    ],
    [{ ORDER_PORT: '3.5' }, 'ORDER_PORT must be a port number from 1 to 65535 (or 0 for any free port); got "3.5".'],
    [
      { ORDER_PORT: '4000', PAYMENT_PORT: '4000' },
      'ORDER_PORT and PAYMENT_PORT are both 4000; the two services need different ports.',
    ],
    [{ ORDER_PORT: '3002' }, 'ORDER_PORT and PAYMENT_PORT are both 3002; the two services need different ports.'],
  ])('refuses %j', (env, error) => {
    expect(readSampleConfig(env)).toEqual({ ok: false, errors: [error] });
  });

  it('runs on RabbitMQ and PostgreSQL when RABBITMQ_URL and DATABASE_URL are set', () => {
    const env = { RABBITMQ_URL: 'amqp://guest:guest@rabbit:5672', DATABASE_URL: 'postgres://postgres@db:5432/sample' };
    expect(readSampleConfig(env, '/srv/app')).toMatchObject({
      ok: true,
      options: {
        rabbitmq: { url: 'amqp://guest:guest@rabbit:5672' },
        postgres: { url: 'postgres://postgres@db:5432/sample' },
      },
    });
    expect(readSampleConfig({ RABBITMQ_URL: 'rabbit:5672', DATABASE_URL: 'mysql://db' })).toEqual({
      ok: false,
      errors: [
        'RABBITMQ_URL must look like amqp://user:password@host:5672 (or amqps://); for a cluster, separate the node URLs with commas.',
        'DATABASE_URL must be a PostgreSQL URL such as postgres://postgres@127.0.0.1:5432/sample.',
      ],
    });
  });

  it('takes the nodes of a RabbitMQ cluster as a comma-separated RABBITMQ_URL, and checks each', () => {
    const nodes = 'amqp://guest:guest@rabbit-1:5672,amqp://guest:guest@rabbit-2:5672,amqp://guest:guest@rabbit-3:5672';
    expect(readSampleConfig({ RABBITMQ_URL: nodes }, '/srv/app')).toMatchObject({
      ok: true,
      options: { rabbitmq: { url: nodes } },
    });
    expect(readSampleConfig({ RABBITMQ_URL: 'amqp://rabbit-1:5672, http://rabbit-2:15672' })).toEqual({
      ok: false,
      errors: [
        'RABBITMQ_URL must look like amqp://user:password@host:5672 (or amqps://); for a cluster, separate the node URLs with commas.',
      ],
    });
  });

  it('refuses delays the broker cannot parse, and reports every problem at once', () => {
    const config = readSampleConfig({ ORDER_PORT: 'x', PAYMENT_RETRY_DELAYS: 'soon' });
    expect(config.ok).toBe(false);
    if (config.ok) return;
    expect(config.errors).toHaveLength(2);
    expect(config.errors[1]).toMatch(/^PAYMENT_RETRY_DELAYS: /);
  });
});
