import { parseDuration } from '@reliable-mq/engine';
import { DEFAULT_BROKER_RESTART_LIMITS, type BrokerRestartLimits } from './broker-restart-policy';
import { readSampleConfig } from './sample-config';
import { DEFAULT_CONSOLE_PORT, readSampleConsoleConfig } from './sample-console';

export const DEFAULT_BROKER_PORT = 7420;

/** The settings of `npm start` (the sample as separate processes), printed with configuration errors. */
export const PROCESSES_ENV_HELP = [
  'ORDER_PORT             order service port (default 3001)',
  'PAYMENT_PORT           payment service port (default 3002)',
  `CONSOLE_PORT           compensation console port (default ${DEFAULT_CONSOLE_PORT})`,
  `BROKER_PORT            broker port (default ${DEFAULT_BROKER_PORT}; its health endpoint listens on the next one)`,
  'BROKER_TOKEN           the broker token the services and the console use (default: a random one per run)',
  'HOST                   interface to listen on (default 127.0.0.1)',
  'DATA_DIR               databases, broker and console data (default ./data)',
  'PAYMENT_RETRY_DELAYS   retry delays of the payment consumer (default "1s 5s 10s 30s 1m 2m 5m 10m 30m 1h")',
  'CONSOLE_DEMO_PASSWORD  password of the demo login (default: generated once per data directory)',
  "OPS_TOKEN              token of the payment service's resend endpoint (default: generated once, in DATA_DIR/ops-token)",
  'RABBITMQ_URL           with DATABASE_URL: the services on RabbitMQ (amqp://user:password@host:5672; a cluster: node URLs separated by commas), no broker process',
  "DATABASE_URL           with RABBITMQ_URL: both services' data in PostgreSQL (postgres://user@host:5432/db)",
  'RABBITMQ_PREFIX        with RABBITMQ_URL: prefix of the exchanges and queues (default rmq)',
  'SAMPLE_BROKER_RESTARTS for tests: "<restarts> in <window>", e.g. "2 in 60s" (default "5 in 60s"; "0": none)',
];

export interface ProcessesConfig {
  dataDir: string;
  host: string;
  orderPort: number;
  paymentPort: number;
  consolePort: number;
  brokerPort: number;
  brokerToken: string | undefined;
  retryDelays: string;
  /** CONSOLE_DEMO_PASSWORD, or undefined for the one kept in the data directory. */
  demoPassword: string | undefined;
  /** When a broker process that died on its own is restarted; SAMPLE_BROKER_RESTARTS moves the limit, for tests. */
  brokerRestart: BrokerRestartLimits;
  /**
   * RABBITMQ_URL with DATABASE_URL: the services run on RabbitMQ with their data in PostgreSQL, and no broker process
   * is started (the broker settings above do not apply). Absent: the broker process and SQLite.
   */
  rabbitmq?: ProcessesRabbitMqConfig;
}

export interface ProcessesRabbitMqConfig {
  url: string;
  /** The services' database; each keeps its tables in a schema of its own, as in the single-process mode. */
  databaseUrl: string;
  /** RABBITMQ_PREFIX, default `rmq` (the transport's own default). */
  prefix: string;
}

const DEFAULT_RABBITMQ_PREFIX = 'rmq';

/** RABBITMQ_URL and DATABASE_URL go together; RABBITMQ_PREFIX only with them. */
function readRabbitMq(env: NodeJS.ProcessEnv, errors: string[]): ProcessesRabbitMqConfig | undefined {
  const url = env.RABBITMQ_URL?.trim() || undefined;
  const databaseUrl = env.DATABASE_URL?.trim() || undefined;
  const prefix = env.RABBITMQ_PREFIX?.trim() || undefined;
  if (url && !databaseUrl) {
    errors.push(
      'RABBITMQ_URL needs DATABASE_URL too: npm start runs the services on RabbitMQ only with their outboxes in ' +
        'PostgreSQL; set both (or neither, for the broker process with SQLite).',
    );
  } else if (databaseUrl && !url) {
    errors.push(
      "DATABASE_URL needs RABBITMQ_URL too: npm start keeps the services' data in PostgreSQL only when they run on " +
        'RabbitMQ; set both (or neither, for the broker process with SQLite).',
    );
  }
  if (prefix !== undefined && !url) {
    errors.push('RABBITMQ_PREFIX applies only with RABBITMQ_URL and DATABASE_URL; remove it.');
  } else if (prefix !== undefined && (!/^[A-Za-z0-9._-]{1,32}$/.test(prefix) || prefix.startsWith('amq.'))) {
    errors.push(
      `RABBITMQ_PREFIX must be 1-32 letters, digits, ".", "_" or "-", not starting with "amq."; got ${JSON.stringify(prefix)}.`,
    );
  }
  if (!url || !databaseUrl) return undefined;
  return { url, databaseUrl, prefix: prefix ?? DEFAULT_RABBITMQ_PREFIX };
}

const MAX_BROKER_RESTARTS = 100;
const MAX_BROKER_RESTART_WINDOW_MS = 24 * 3_600_000;

/** SAMPLE_BROKER_RESTARTS: `<restarts> in <window>` (`5 in 60s`), or `0` to never restart the broker. */
function readBrokerRestart(text: string | undefined): { limits: BrokerRestartLimits } | { error: string } {
  const value = text?.trim();
  if (!value) return { limits: DEFAULT_BROKER_RESTART_LIMITS };
  const problem = (why: string): { error: string } => ({
    error:
      `SAMPLE_BROKER_RESTARTS must be "<restarts> in <window>" with 0 to ${MAX_BROKER_RESTARTS} restarts in ` +
      `1s to 24h, such as "5 in 60s", or "0" to never restart the broker; got ${JSON.stringify(text)} (${why}).`,
  });
  if (value === '0') return { limits: { ...DEFAULT_BROKER_RESTART_LIMITS, maxRestarts: 0 } };
  const match = /^(\d+)\s+in\s+(\S+)$/.exec(value);
  if (!match) return problem('not of that form');
  const maxRestarts = Number(match[1]);
  if (maxRestarts > MAX_BROKER_RESTARTS) return problem(`more than ${MAX_BROKER_RESTARTS} restarts`);
  let windowMs: number;
  try {
    windowMs = parseDuration(match[2]!, 'the window');
  } catch {
    return problem(`the window ${JSON.stringify(match[2])} is not a duration`);
  }
  if (windowMs < 1000 || windowMs > MAX_BROKER_RESTART_WINDOW_MS) return problem('the window is out of range');
  return { limits: { ...DEFAULT_BROKER_RESTART_LIMITS, maxRestarts, windowMs } };
}

export type ProcessesConfigResult = { ok: true; config: ProcessesConfig } | { ok: false; errors: string[] };

/** Reads the settings of `npm start`; every problem is one sentence. */
export function readProcessesConfig(env: NodeJS.ProcessEnv, cwd: string = process.cwd()): ProcessesConfigResult {
  const sample = readSampleConfig(env, cwd);
  const consoleConfig = readSampleConsoleConfig(env);
  const errors = [...(sample.ok ? [] : sample.errors), ...(consoleConfig.ok ? [] : consoleConfig.errors)];
  const rabbitmq = readRabbitMq(env, errors);
  const brokerText = env.BROKER_PORT?.trim() || String(DEFAULT_BROKER_PORT);
  const brokerPort = Number(brokerText);
  if (!/^[0-9]+$/.test(brokerText) || brokerPort > 65_534) {
    errors.push(
      `BROKER_PORT must be a port number from 1 to 65534 (its health endpoint takes the next one), or 0 for any free port; got ${JSON.stringify(env.BROKER_PORT)}.`,
    );
  }
  const brokerToken = env.BROKER_TOKEN?.trim() || undefined;
  if (brokerToken !== undefined && (brokerToken.length < 8 || brokerToken.length > 1024)) {
    errors.push('BROKER_TOKEN must be 8 to 1024 characters (or unset: a random token is made for the run).');
  }
  const brokerRestart = readBrokerRestart(env.SAMPLE_BROKER_RESTARTS);
  if ('error' in brokerRestart) errors.push(brokerRestart.error);
  if (
    !sample.ok ||
    !consoleConfig.ok ||
    !/^[0-9]+$/.test(brokerText) ||
    brokerPort > 65_534 ||
    'error' in brokerRestart
  ) {
    return { ok: false, errors };
  }

  const ports: Array<[string, number]> = [
    ['ORDER_PORT', sample.options.orderPort],
    ['PAYMENT_PORT', sample.options.paymentPort],
    ['CONSOLE_PORT', consoleConfig.port],
    // On RabbitMQ there is no broker process, so its ports take nothing.
    ...(rabbitmq
      ? []
      : ([
          ['BROKER_PORT', brokerPort],
          ['the broker health port (BROKER_PORT + 1)', brokerPort === 0 ? 0 : brokerPort + 1],
        ] as Array<[string, number]>)),
  ];
  for (let i = 0; i < ports.length; i++) {
    for (let j = i + 1; j < ports.length; j++) {
      const [a, portA] = ports[i]!;
      const [b, portB] = ports[j]!;
      // ORDER_PORT against PAYMENT_PORT is already checked by the sample's own settings.
      if (portA !== 0 && portA === portB && !(a === 'ORDER_PORT' && b === 'PAYMENT_PORT')) {
        errors.push(`${a} and ${b} are both ${portA}; each part of the sample needs its own port.`);
      }
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    config: {
      dataDir: sample.options.dataDir,
      host: sample.options.host ?? '127.0.0.1',
      orderPort: sample.options.orderPort,
      paymentPort: sample.options.paymentPort,
      consolePort: consoleConfig.port,
      brokerPort,
      brokerToken,
      retryDelays: sample.options.retryDelays!,
      demoPassword: consoleConfig.password,
      brokerRestart: brokerRestart.limits,
      ...(rabbitmq ? { rabbitmq } : {}),
    },
  };
}
