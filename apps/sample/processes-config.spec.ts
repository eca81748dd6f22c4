import { describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_DELAYS } from './sample';
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

  it('refuses bad or clashing settings, and points RabbitMQ and PostgreSQL to the single-process mode', () => {
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
    expect(errorsOf({ DATABASE_URL: 'postgres://u@db/x' })).toEqual([
      'DATABASE_URL: npm start runs the sample against the broker process with SQLite; to run it on PostgreSQL, use ' +
        'the single-process mode: DATABASE_URL=... npm run start:embedded.',
    ]);
  });
});
