import type { INestApplication, LoggerService, LogLevel } from '@nestjs/common';
import { ownerOnlyDirectory, writeOwnerOnlyFile, type WorkerEngine } from '@reliable-mq/engine';
import { RELIABLE_MQ_TRANSPORT, type Transport } from '@reliable-mq/nestjs';
import { describeReliableMqApp, hashConsolePassword, mergeCatalogs } from '@reliable-mq/console';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { consoleUrlOf, createConsoleApp } from '../console/src/console.app';

export const DEFAULT_CONSOLE_PORT = 3003;
/** The sample's payloads carry card numbers: the console masks them everywhere, showing the last four. */
export const SAMPLE_CONSOLE_REDACTION = [{ path: 'card', showLast: 4 }];
export const DEMO_USERNAME = 'demo';

/** The sample's console settings, printed with configuration errors. */
export const SAMPLE_CONSOLE_ENV_HELP = [
  'CONSOLE_PORT           compensation console port (default 3003)',
  'CONSOLE_DEMO_PASSWORD  password of the demo login (default: generated once per data directory)',
];

export interface SampleConsoleOptions {
  /** 0 picks a free port. */
  port: number;
  /** The demo login: user `demo`, role admin. */
  password: string;
}

export interface SampleConsole {
  app: INestApplication;
  url: string;
  username: string;
  password: string;
}

export type SampleConsoleConfig =
  { ok: true; port: number; password: string | undefined } | { ok: false; errors: string[] };

export function readSampleConsoleConfig(env: NodeJS.ProcessEnv): SampleConsoleConfig {
  const raw = env.CONSOLE_PORT?.trim();
  const errors: string[] = [];
  let port = DEFAULT_CONSOLE_PORT;
  if (raw !== undefined && raw !== '') {
    port = Number(raw);
    if (!/^[0-9]+$/.test(raw) || port > 65_535) {
      errors.push(
        `CONSOLE_PORT must be a port number from 1 to 65535 (or 0 for any free port); got ${JSON.stringify(env.CONSOLE_PORT)}.`,
      );
    }
  }
  const password = env.CONSOLE_DEMO_PASSWORD;
  if (password !== undefined && password.length < 8)
    errors.push('CONSOLE_DEMO_PASSWORD must be at least 8 characters.');
  return errors.length > 0 ? { ok: false, errors } : { ok: true, port, password };
}

/**
 * The demo password: the one given, or one generated the first time and kept in `<dataDir>/console/demo-password`
 * (readable by the owner only), so the printed login stays the same across restarts of the same data.
 */
export function demoPassword(dataDir: string, given: string | undefined): string {
  if (given !== undefined) return given;
  const dir = join(dataDir, 'console');
  const file = join(dir, 'demo-password');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  ownerOnlyDirectory(dir);
  const password = randomBytes(12).toString('base64url');
  writeOwnerOnlyFile(file, `${password}\n`);
  return password;
}

/**
 * The console's users file for `npm start` (its own process reads CONSOLE_USERS_FILE): the demo login, as an admin.
 * Readable by the owner only; returns its path.
 */
export async function writeDemoUsersFile(dataDir: string, password: string): Promise<string> {
  const dir = join(dataDir, 'console');
  ownerOnlyDirectory(dir);
  const file = join(dir, 'users.json');
  writeOwnerOnlyFile(
    file,
    JSON.stringify([{ username: DEMO_USERNAME, passwordHash: await hashConsolePassword(password), role: 'admin' }]),
  );
  return file;
}

/**
 * The compensation console over the sample: the broker the services use (its transport, so it follows whatever
 * transport they run on, and the embedded engine's statistics), both services' outboxes, and their handlers, so
 * an edited `order.created` is checked against the payment service's DTO before it is sent.
 */
export async function startSampleConsole(input: {
  options: SampleConsoleOptions;
  dataDir: string;
  host: string;
  engine: WorkerEngine | undefined;
  orderService: INestApplication;
  paymentService: INestApplication;
  logger?: LoggerService | LogLevel[] | false;
}): Promise<SampleConsole> {
  const catalog = mergeCatalogs([
    describeReliableMqApp(input.paymentService),
    describeReliableMqApp(input.orderService),
  ]);
  const transport = input.paymentService.get<Transport>(RELIABLE_MQ_TRANSPORT);
  const engine = input.engine;
  const app = await createConsoleApp({
    console: {
      broker: {
        transport,
        stats: engine ? () => engine.stats() : undefined,
        label: engine ? `embedded broker (${join(input.dataDir, 'broker')})` : transport.kind,
      },
      services: [
        { name: 'orders', dataSource: input.orderService.get(DataSource) },
        { name: 'payments', dataSource: input.paymentService.get(DataSource) },
      ],
      auth: {
        users: [
          { username: DEMO_USERNAME, passwordHash: await hashConsolePassword(input.options.password), role: 'admin' },
        ],
      },
      storeFile: join(input.dataDir, 'console', 'console.sqlite'),
      consumers: catalog.consumers,
      dedupWindows: catalog.dedupWindows,
      discoverConsumers: false,
      redact: SAMPLE_CONSOLE_REDACTION,
    },
    port: input.options.port,
    host: input.host,
    shutdownHooks: false,
    logger: input.logger,
  });
  return { app, url: consoleUrlOf(app, input.host), username: DEMO_USERNAME, password: input.options.password };
}
