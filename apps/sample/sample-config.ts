import { parseDelayLevels } from '@reliable-mq/engine';
import { splitRabbitMqUrls } from '@reliable-mq/nestjs';
import { resolve } from 'node:path';
import { DEFAULT_RETRY_DELAYS, type SampleOptions } from './sample';

export const DEFAULT_ORDER_PORT = 3001;
export const DEFAULT_PAYMENT_PORT = 3002;

/** The environment variables the sample reads, and what they do; printed with configuration errors. */
export const SAMPLE_ENV_HELP = [
  'ORDER_PORT             order service port (default 3001)',
  'PAYMENT_PORT           payment service port (default 3002)',
  'HOST                   interface to listen on (default 127.0.0.1)',
  'DATA_DIR               databases and broker data (default ./data)',
  `PAYMENT_RETRY_DELAYS   retry delays of the payment consumer (default "${DEFAULT_RETRY_DELAYS}")`,
  "OPS_TOKEN              token of the payment service's resend endpoint (default: generated once, in DATA_DIR/ops-token)",
  'RABBITMQ_URL           run on RabbitMQ (amqp://user:password@host:5672; a cluster: node URLs separated by commas) instead of the embedded broker',
  "DATABASE_URL           keep both services' data in PostgreSQL (postgres://user@host:5432/db) instead of SQLite",
];

export type SampleConfig = { ok: true; options: SampleOptions } | { ok: false; errors: string[] };

/** Reads the sample's settings from the environment; every problem becomes one sentence. */
export function readSampleConfig(env: NodeJS.ProcessEnv, cwd: string = process.cwd()): SampleConfig {
  const errors: string[] = [];
  const port = (name: string, fallback: number): number => {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!/^[0-9]+$/.test(raw) || value > 65_535) {
      errors.push(
        `${name} must be a port number from 1 to 65535 (or 0 for any free port); got ${JSON.stringify(env[name])}.`,
      );
      return fallback;
    }
    return value;
  };
  const orderPort = port('ORDER_PORT', DEFAULT_ORDER_PORT);
  const paymentPort = port('PAYMENT_PORT', DEFAULT_PAYMENT_PORT);
  if (orderPort !== 0 && orderPort === paymentPort) {
    errors.push(`ORDER_PORT and PAYMENT_PORT are both ${orderPort}; the two services need different ports.`);
  }
  const host = env.HOST?.trim() || '127.0.0.1';
  const dataDir = resolve(cwd, env.DATA_DIR?.trim() || 'data');
  const retryDelays = env.PAYMENT_RETRY_DELAYS?.trim() || DEFAULT_RETRY_DELAYS;
  try {
    parseDelayLevels(retryDelays);
  } catch (error) {
    errors.push(`PAYMENT_RETRY_DELAYS: ${(error as Error).message}`);
  }
  // A cluster's nodes come as one comma-separated list; the transport splits it the same way.
  const rabbitmqUrl = env.RABBITMQ_URL?.trim() || undefined;
  if (rabbitmqUrl !== undefined && !splitRabbitMqUrls(rabbitmqUrl).every((url) => /^amqps?:\/\/[^/]/i.test(url))) {
    errors.push(
      'RABBITMQ_URL must look like amqp://user:password@host:5672 (or amqps://); for a cluster, separate the node URLs with commas.',
    );
  }
  const databaseUrl = env.DATABASE_URL?.trim() || undefined;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\/[^/]/i.test(databaseUrl)) {
    errors.push('DATABASE_URL must be a PostgreSQL URL such as postgres://postgres@127.0.0.1:5432/sample.');
  }
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    options: {
      orderPort,
      paymentPort,
      host,
      dataDir,
      retryDelays,
      ...(rabbitmqUrl ? { rabbitmq: { url: rabbitmqUrl } } : {}),
      ...(databaseUrl ? { postgres: { url: databaseUrl } } : {}),
    },
  };
}
