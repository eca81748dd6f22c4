// `npm start`: the sample as separate processes: the standalone broker, the order service, the payment service and
// the compensation console, the services and the console connected to the broker process (docs/sample.md). The
// single-process sample on the embedded broker is `npm run start:embedded` (start-embedded.ts). A broker process that dies on
// its own is started again (broker-restart-policy.ts); any other part's exit stops them all. With RABBITMQ_URL and
// DATABASE_URL: three processes, the services on RabbitMQ with PostgreSQL and the console on RabbitMQ's DLQs and their
// outboxes, and no broker process.
import { relative } from 'node:path';
import { redactUrl } from '@reliable-mq/nestjs';
import { formatSeconds, restartsText } from './broker-restart-policy';
import { PROCESSES_ENV_HELP, readProcessesConfig } from './processes-config';
import { DEMO_USERNAME, demoPassword, writeDemoUsersFile } from './sample-console';
import {
  SampleStartError,
  startSampleProcesses,
  type BrokerRestartEvent,
  type SampleProcesses,
} from './sample-processes';

/** The supervisor's own lines about the broker's restarts, between the children's prefixed output. */
function brokerRestartLine(event: BrokerRestartEvent): string {
  switch (event.kind) {
    case 'exited':
      return (
        `broker exited (${event.signal ?? `code ${event.code}`}); restarting in ${formatSeconds(event.delayMs)} ` +
        `(restart ${event.count})`
      );
    case 'start-failed':
      return `broker restart ${event.count} failed: ${event.message}`;
    case 'back':
      return `broker is back on ${event.url}    pid ${event.pid} (restart ${event.count})`;
  }
}

async function main(): Promise<void> {
  const read = readProcessesConfig(process.env);
  if (!read.ok) {
    console.error(
      [
        'The sample cannot start:',
        ...read.errors.map((error) => `  - ${error}`),
        '',
        'Settings:',
        ...PROCESSES_ENV_HELP.map((line) => `  ${line}`),
      ].join('\n'),
    );
    process.exit(2);
  }
  const { config } = read;

  // The console's demo login: the same password as the single-process mode keeps in this data directory.
  const password = demoPassword(config.dataDir, config.demoPassword);
  const usersFile = await writeDemoUsersFile(config.dataDir, password);

  let stopping = false;
  let sample: SampleProcesses | undefined;
  const stop = (reason: string, code: number): void => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${reason}: stopping the console, the services${config.rabbitmq ? '' : ', then the broker'}...`);
    (sample ? sample.close() : Promise.resolve()).then(
      () => {
        console.log('Stopped.');
        process.exit(code);
      },
      () => process.exit(1),
    );
  };
  // The parts run in process groups of their own: a Ctrl+C reaches only this process, which stops them in order.
  process.on('SIGINT', () => stop('SIGINT', 0));
  process.on('SIGTERM', () => stop('SIGTERM', 0));
  process.on('SIGHUP', () => stop('SIGHUP', 0));

  try {
    sample = await startSampleProcesses({
      dataDir: config.dataDir,
      host: config.host,
      orderPort: config.orderPort,
      paymentPort: config.paymentPort,
      brokerPort: config.brokerPort,
      brokerToken: config.brokerToken,
      retryDelays: config.retryDelays,
      opsToken: process.env.OPS_TOKEN,
      console: { port: config.consolePort, usersFile },
      ...(config.rabbitmq ? { rabbitmq: config.rabbitmq } : {}),
      brokerRestart: {
        limits: config.brokerRestart,
        onEvent: (event) => {
          if (!stopping) console.log(brokerRestartLine(event));
        },
      },
    });
  } catch (error) {
    if (error instanceof SampleStartError) {
      console.error(`The sample could not start: ${error.message}`);
    } else {
      console.error('The sample could not start:', error);
    }
    process.exit(1);
  }
  if (stopping) return;

  const shownDir = relative(process.cwd(), config.dataDir) || '.';
  const pids = sample.pids;
  const rabbitmq = config.rabbitmq;
  if (rabbitmq) {
    console.log(
      [
        '',
        `ReliableMQ sample is running as three processes on RabbitMQ (${redactUrl(rabbitmq.url)}, prefix ${rabbitmq.prefix}) ` +
          `with PostgreSQL (${redactUrl(rabbitmq.databaseUrl)}, schemas order_service and payment_service); no broker process.`,
        `  order service    ${sample.orderUrl}    POST /orders, GET /orders/:id    pid ${pids.order}`,
        `  payment service  ${sample.paymentUrl}    GET /payments?orderId=, GET /ops/dead-letters    pid ${pids.payment}`,
        `  console          ${sample.consoleUrl}    log in as ${DEMO_USERNAME} / ${password}    pid ${pids.console}`,
        '',
        'Place an order:',
        `  curl -s -X POST ${sample.orderUrl}/orders -H 'content-type: application/json' -d '{"customerId":"c-1","amount":42.5,"card":"4242424242424242"}'`,
        `then look at it with: curl -s ${sample.orderUrl}/orders/<id>`,
        '',
        'More: docs/sample.md, docs/rabbitmq.md, docs/console.md. Ctrl+C stops all three; should one of them exit on its own, the others stop too.',
        '',
      ].join('\n'),
    );
  } else {
    console.log(
      [
        '',
        `ReliableMQ sample is running as four processes against the broker process (data in ${shownDir.startsWith('..') ? config.dataDir : `./${shownDir}`}).`,
        `  broker           ${sample.brokerUrl}${sample.healthUrl ? `    health ${sample.healthUrl}/health, /ready` : ''}    pid ${pids.broker}`,
        `  order service    ${sample.orderUrl}    POST /orders, GET /orders/:id    pid ${pids.order}`,
        `  payment service  ${sample.paymentUrl}    GET /payments?orderId=, GET /ops/dead-letters    pid ${pids.payment}`,
        `  console          ${sample.consoleUrl}    log in as ${DEMO_USERNAME} / ${password}    pid ${pids.console}`,
        '',
        'Place an order:',
        `  curl -s -X POST ${sample.orderUrl}/orders -H 'content-type: application/json' -d '{"customerId":"c-1","amount":42.5,"card":"4242424242424242"}'`,
        `then look at it with: curl -s ${sample.orderUrl}/orders/<id>`,
        '',
        'More: docs/sample.md, docs/console.md, `npm run demo` in another terminal; `npm run start:embedded` runs it all in one process.',
        config.brokerRestart.maxRestarts > 0
          ? `Ctrl+C stops all four. Should the broker die, it is restarted on the same port and data (up to ` +
            `${restartsText(config.brokerRestart.maxRestarts)} in ${formatSeconds(config.brokerRestart.windowMs)}) while the ` +
            'services keep taking orders; should another part exit on its own, the others stop too.'
          : 'Ctrl+C stops all four; should one of them exit on its own, the others stop too.',
        '',
      ].join('\n'),
    );
  }
  void sample.childExited.then(({ name, code, signal, reason }) =>
    stop(
      reason
        ? `The ${name} exited (${signal ?? `code ${code}`}) again and will not be restarted: ${reason}`
        : `The ${name} exited (${code ?? signal}) on its own`,
      1,
    ),
  );
}

main().catch((error: unknown) => {
  console.error('The sample failed to start:', error);
  process.exit(1);
});
