// `npm run console`: the compensation console on its own, over an embedded broker data directory and service
// databases (see docs/console.md). `npm run console -- hash-password` and `-- new-token` make credentials.
import 'reflect-metadata';
import { BrokerEngine } from '@reliable-mq/engine';
import { EmbeddedTransport } from '@reliable-mq/nestjs';
import { hashConsolePassword, hashConsoleToken, newConsoleToken } from '@reliable-mq/console';
import { Logger } from '@nestjs/common';
import { DataSource } from 'typeorm';
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
  const logger = new Logger('BrokerEngine');
  // Opening the directory makes this process the broker for it: run it only while no other process has it open.
  const engine = BrokerEngine.open({
    dataDir: config.brokerDataDir,
    flush: 'sync',
    onError: (error) => logger.error(error.message, error.stack),
    onWarning: (message) => logger.warn(message),
  });
  const transport = new EmbeddedTransport({ kind: 'embedded', sharedEngine: engine });
  await transport.connect();
  const dataSources = config.services.map((service) => ({
    name: service.name,
    dataSource:
      service.type === 'better-sqlite3'
        ? new DataSource({ type: 'better-sqlite3', database: service.location })
        : new DataSource({ type: service.type, url: service.location }),
  }));
  for (const { dataSource } of dataSources) await dataSource.initialize();

  const app = await createConsoleApp({
    console: {
      broker: { transport, stats: () => engine.stats(), label: `embedded (${config.brokerDataDir})` },
      services: dataSources,
      auth: { users: config.users, tokens: config.tokens, secureCookies: config.secureCookies },
      storeFile: config.storeFile,
      dedupWindows: config.dedupWindows,
    },
    path: config.path,
    port: config.port,
    host: config.host,
    trustProxy: config.trustProxy,
    shutdownHooks: false,
  });
  console.log(
    `ReliableMQ console: ${consoleUrlOf(app, config.host, config.path)} (broker data in ${config.brokerDataDir})`,
  );

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) process.exit(1);
    stopping = true;
    console.log(`\n${signal}: stopping...`);
    (async () => {
      await app.close();
      for (const { dataSource } of dataSources) await dataSource.destroy();
      await transport.close();
      await engine.close();
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
