// `npm run start:embedded`: the order and payment services and the console in one process, on the embedded broker
// (or RabbitMQ and PostgreSQL), data under ./data (see docs/sample.md). `npm start` runs them as separate processes.
import './telemetry';
import 'reflect-metadata';
import { relative } from 'node:path';
import { PortInUseError, startSample, type Sample } from './sample';
import { redactUrl } from '@reliable-mq/nestjs';
import { SAMPLE_ENV_HELP, readSampleConfig } from './sample-config';
import { SAMPLE_CONSOLE_ENV_HELP, demoPassword, readSampleConsoleConfig } from './sample-console';

async function main(): Promise<void> {
  const config = readSampleConfig(process.env);
  const consoleConfig = readSampleConsoleConfig(process.env);
  if (!config.ok || !consoleConfig.ok) {
    console.error(
      [
        'The sample cannot start:',
        ...[...(config.ok ? [] : config.errors), ...(consoleConfig.ok ? [] : consoleConfig.errors)].map(
          (error) => `  - ${error}`,
        ),
        '',
        'Settings:',
        ...[...SAMPLE_ENV_HELP, ...SAMPLE_CONSOLE_ENV_HELP].map((line) => `  ${line}`),
      ].join('\n'),
    );
    process.exit(2);
  }
  const { options } = config;
  let sample: Sample;
  try {
    const password = demoPassword(options.dataDir, consoleConfig.password);
    sample = await startSample({
      ...options,
      opsToken: process.env.OPS_TOKEN,
      console: { port: consoleConfig.port, password },
    });
  } catch (error) {
    if (error instanceof PortInUseError) {
      const variable =
        error.service === 'order service'
          ? 'ORDER_PORT'
          : error.service === 'console'
            ? 'CONSOLE_PORT'
            : 'PAYMENT_PORT';
      console.error(
        `${error.message} Stop what listens there, or choose another port: ${variable}=<port> npm run start:embedded`,
      );
      process.exit(1);
    }
    throw error;
  }

  const shownDir = relative(process.cwd(), options.dataDir) || '.';
  console.log(
    [
      '',
      sample.broker === 'rabbitmq'
        ? `ReliableMQ sample is running on RabbitMQ (${[options.rabbitmq!.url!].flat().map(redactUrl).join(', ')}) with ${options.postgres ? `PostgreSQL (${redactUrl(options.postgres.url)})` : 'SQLite'}.`
        : `ReliableMQ sample is running on the embedded broker (data in ${shownDir.startsWith('..') ? options.dataDir : `./${shownDir}`}).`,
      `  order service    ${sample.orderUrl}    POST /orders, GET /orders/:id`,
      `  payment service  ${sample.paymentUrl}    GET /payments?orderId=, GET /ops/dead-letters`,
      `  console          ${sample.console!.url}    log in as ${sample.console!.username} / ${sample.console!.password}`,
      '',
      'Place an order:',
      `  curl -s -X POST ${sample.orderUrl}/orders -H 'content-type: application/json' -d '{"customerId":"c-1","amount":42.5,"card":"4242424242424242"}'`,
      `then look at it with: curl -s ${sample.orderUrl}/orders/<id>`,
      '',
      'More: docs/sample.md (test cards, the DLQ), docs/console.md (the console), `npm run demo` in another terminal.',
      '`npm start` runs the same as separate processes against the broker process. Ctrl+C stops.',
      '',
    ].join('\n'),
  );

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      console.error(`${signal} again: exiting without waiting.`);
      process.exit(1);
    }
    stopping = true;
    console.log(`\n${signal}: stopping (consumers finish what they hold, then the broker flushes)...`);
    sample.close().then(
      () => {
        console.log('Stopped.');
        process.exit(0);
      },
      (error: unknown) => {
        console.error('Stopping failed:', error);
        process.exit(1);
      },
    );
  };
  // Nest's own shutdown hooks are off in the two apps: each would re-raise the signal once its own shutdown is done,
  // ending the process before the other app and the shared engine have closed.
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error('The sample failed to start:', error);
  process.exit(1);
});
