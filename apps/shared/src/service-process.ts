import type { INestApplication } from '@nestjs/common';
import { redactUrl } from '@reliable-mq/nestjs';
import type { ServiceTransportOptions } from './service-options';
import { tracingSummary } from './telemetry';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';

/** How a sample service runs as its own process, against the standalone broker. */
export interface ServiceProcessSpec {
  /** Lower case, as in a sentence: `order service`. */
  name: string;
  /** The environment variable of its HTTP port, and the port when it is not set. */
  portVariable: string;
  defaultPort: number;
  /** The SQLite file when DATABASE_FILE is not set, relative to the working directory. */
  defaultDatabaseFile: string;
  start: (settings: { port: number; host: string; databaseFile: string }) => Promise<INestApplication>;
}

/**
 * The broker and database of a service process from its environment: with RABBITMQ_URL, RabbitMQ (RABBITMQ_PREFIX,
 * default `rmq`) and, with DATABASE_URL, PostgreSQL (the service's own schema); otherwise the standalone broker
 * (BROKER_URL, BROKER_TOKEN) and the SQLite file.
 */
export function serviceProcessBackend(
  clientName: string,
  env: NodeJS.ProcessEnv = process.env,
): { transport: ServiceTransportOptions; databaseUrl?: string } {
  const rabbitmqUrl = env.RABBITMQ_URL?.trim();
  const databaseUrl = env.DATABASE_URL?.trim() || undefined;
  const transport: ServiceTransportOptions = rabbitmqUrl
    ? { kind: 'rabbitmq', url: rabbitmqUrl, prefix: env.RABBITMQ_PREFIX?.trim() || undefined }
    : // url and token default to BROKER_URL and BROKER_TOKEN.
      { kind: 'remote', clientName };
  return { transport, ...(databaseUrl ? { databaseUrl } : {}) };
}

/**
 * Starts the service from the environment (its port variable, HOST, DATABASE_FILE, LOG_FORMAT), prints its URL, and with
 * SERVICE_READY_LINE=true a `SERVICE_READY` line for the process that started it. Exits 2 on a bad port, 1 when the
 * service fails to start.
 */
export function runServiceProcess(spec: ServiceProcessSpec): void {
  startServiceProcess(spec).catch((error: unknown) => {
    console.error(`The ${spec.name} failed to start:`, error);
    process.exit(1);
  });
}

async function startServiceProcess(spec: ServiceProcessSpec): Promise<void> {
  const port = Number(process.env[spec.portVariable] ?? spec.defaultPort);
  const host = process.env.HOST?.trim() || '127.0.0.1';
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    console.error(`${spec.portVariable} must be a port number; got ${JSON.stringify(process.env[spec.portVariable])}.`);
    process.exit(2);
  }
  const logFormat = process.env.LOG_FORMAT?.trim();
  if (logFormat && logFormat !== 'json' && logFormat !== 'text') {
    console.error(`LOG_FORMAT must be json or text; got ${JSON.stringify(process.env.LOG_FORMAT)}.`);
    process.exit(2);
  }
  const app = await spec.start({
    port,
    host,
    databaseFile: resolve(process.env.DATABASE_FILE?.trim() || spec.defaultDatabaseFile),
  });
  const address = app.getHttpServer().address() as AddressInfo;
  const url = `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${address.port}`;
  const title = spec.name.charAt(0).toUpperCase() + spec.name.slice(1);
  const rabbitmqUrl = process.env.RABBITMQ_URL?.trim();
  const broker = rabbitmqUrl ? `RabbitMQ ${redactUrl(rabbitmqUrl)}` : `broker ${process.env.BROKER_URL}`;
  console.log(`${title} listening on ${url} (${broker}; ${tracingSummary()})`);
  if (process.env.SERVICE_READY_LINE === 'true') process.stdout.write(`SERVICE_READY ${JSON.stringify({ url })}\n`);
}
