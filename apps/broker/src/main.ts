// `npm run start:broker`: the standalone ReliableMQ broker. Settings come from the environment (BROKER_*); see
// docs/broker.md. `backlog <command>` runs a backlog call against a running broker instead (npm run backlog).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { backlogCli } from './backlog-cli';
import { BROKER_ENV_HELP, readBrokerConfig } from './broker-config';
import { brokerLogger } from './broker-logger';
import { BrokerServer, BrokerStartError } from './broker-server';

function packageVersion(): string {
  try {
    return (
      (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version?: string }).version ??
      '0.0.0'
    );
  } catch {
    return '0.0.0';
  }
}

async function main(): Promise<void> {
  // `reliable-mq-broker backlog …`: a client command against a running broker, not a server start.
  if (process.argv[2] === 'backlog') await backlogCli(process.argv.slice(3));
  const logger = brokerLogger('Broker');
  const read = readBrokerConfig(process.env);
  if (!read.ok) {
    console.error(
      [
        'The broker cannot start:',
        ...read.errors.map((error) => `  - ${error}`),
        '',
        'Settings:',
        ...BROKER_ENV_HELP.map((line) => `  ${line}`),
      ].join('\n'),
    );
    process.exit(2);
  }
  const { config } = read;
  let server: BrokerServer;
  try {
    server = await BrokerServer.start(config, { logger, version: packageVersion() });
  } catch (error) {
    if (error instanceof BrokerStartError) {
      console.error(`The broker cannot start: ${error.message}`);
      process.exit(2);
    }
    if ((error as NodeJS.ErrnoException)?.code === 'EADDRINUSE') {
      console.error(
        `The broker cannot start: ${config.host}:${config.port} is already in use. Choose another BROKER_PORT / BROKER_HEALTH_PORT.`,
      );
      process.exit(1);
    }
    throw error;
  }
  const health = server.healthAddress;
  logger.log(
    `Listening on ${server.url} (protocol ${server.healthReport().protocol}, data in ${config.dataDir}, flush ${config.flush})` +
      (health ? `; health at http://${health.host}:${health.port}/health and /ready` : ''),
  );
  // A line for tools and tests that start the broker and need its address (BROKER_PORT=0 picks a free port).
  if (process.env.BROKER_READY_LINE === 'true') {
    process.stdout.write(
      `BROKER_READY ${JSON.stringify({ url: server.url, port: server.address.port, healthPort: health?.port ?? null })}\n`,
    );
  }

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn(`${signal} again: exiting without waiting.`);
      process.exit(1);
    }
    stopping = true;
    logger.log(`${signal}: stopping (clients ack what they hold, confirms go out, the engine flushes)...`);
    server.shutdown().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error(`Shutdown failed: ${(error as Error)?.message ?? String(error)}`, (error as Error)?.stack);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error('The broker failed to start:', error);
  process.exit(1);
});
