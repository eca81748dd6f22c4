// `npm run console`: the compensation console on its own, over one broker (an embedded data directory, a standalone
// broker, or RabbitMQ's DLQs) and service databases (see docs/console.md). `npm run console -- hash-password` and
// `-- new-token` make credentials.
import 'reflect-metadata';
import { hashConsolePassword, hashConsoleToken, newConsoleToken } from '@reliable-mq/console';
import type { INestApplication } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { ConsoleBrokerError, openConsoleBroker, type OpenConsoleBroker } from './console-broker';
import { consoleUrlOf, createConsoleApp } from './console.app';
import { CONSOLE_ENV_HELP, readConsoleConfig } from './console-config';
import { readSecret } from './read-secret';

async function main(): Promise<void> {
  const command = process.argv[2] ?? 'serve';
  if (command === 'hash-password') {
    const password = await readSecret('Password (at least 8 characters): ');
    try {
      console.log(await hashConsolePassword(password));
    } catch (error) {
      console.error((error as Error).message);
      process.exit(2);
    }
    return;
  }
  if (command === 'new-token') {
    const token = newConsoleToken();
    console.log(`token (give it to the script; shown once): ${token}`);
    console.log(`tokenHash (for CONSOLE_TOKENS_FILE):       ${hashConsoleToken(token)}`);
    return;
  }
  if (command !== 'serve') {
    console.error(`Unknown command "${command}". Use: npm run console [-- serve | hash-password | new-token]`);
    process.exit(2);
  }

  const result = readConsoleConfig(process.env);
  if (!result.ok) {
    console.error(
      [
        'The console cannot start:',
        ...result.errors.map((error) => `  - ${error}`),
        '',
        'Settings:',
        ...CONSOLE_ENV_HELP.map((line) => `  ${line}`),
      ].join('\n'),
    );
    process.exit(2);
  }
  const config = result.config;
  let broker: OpenConsoleBroker;
  try {
    broker = await openConsoleBroker(config.broker);
  } catch (error) {
    if (!(error instanceof ConsoleBrokerError)) throw error;
    console.error(`The console cannot start: ${error.message}`);
    process.exit(1);
  }
  const dataSources = config.services.map((service) => ({
    name: service.name,
    dataSource:
      service.type === 'better-sqlite3'
        ? new DataSource({ type: 'better-sqlite3', database: service.location })
        : new DataSource({ type: service.type, url: service.location }),
  }));
  const closeSources = async (): Promise<void> => {
    for (const { dataSource } of dataSources) if (dataSource.isInitialized) await dataSource.destroy();
    await broker.close();
  };
  let app: INestApplication;
  try {
    for (const { name, dataSource } of dataSources) {
      try {
        await dataSource.initialize();
      } catch (error) {
        throw new ConsoleBrokerError(`SERVICE_DATABASES: cannot open ${name}: ${(error as Error).message}`);
      }
    }
    app = await createConsoleApp({
      console: {
        broker: broker.source,
        services: dataSources,
        auth: { users: config.users, tokens: config.tokens, secureCookies: config.secureCookies },
        storeFile: config.storeFile,
        dedupWindows: config.dedupWindows,
        redact: config.redact,
      },
      path: config.path,
      port: config.port,
      host: config.host,
      trustProxy: config.trustProxy,
      shutdownHooks: false,
    });
  } catch (error) {
    await closeSources().catch(() => undefined);
    if (error instanceof ConsoleBrokerError) {
      console.error(`The console cannot start: ${error.message}`);
      process.exit(1);
    }
    if ((error as NodeJS.ErrnoException)?.code === 'EADDRINUSE') {
      console.error(
        `The console cannot start: port ${config.port} on ${config.host} is already in use. Choose another CONSOLE_PORT.`,
      );
      process.exit(1);
    }
    throw error;
  }
  const url = consoleUrlOf(app, config.host, config.path);
  console.log(`ReliableMQ console: ${url} (${broker.description})`);
  // A line for the process that started this one (npm start) and needs the address (CONSOLE_PORT=0 picks a free port).
  if (process.env.CONSOLE_READY_LINE === 'true') process.stdout.write(`CONSOLE_READY ${JSON.stringify({ url })}\n`);

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) process.exit(1);
    stopping = true;
    console.log(`\n${signal}: stopping...`);
    (async () => {
      await app.close();
      await closeSources();
    })().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('Stopping failed:', error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error('The console failed to start:', error);
  process.exit(1);
});
