// The sample as separate processes (`npm start`, the tests): the broker process, the services and the console,
// started, watched and stopped through one ChildSupervisor per run.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ownerOnlyDirectory } from '@reliable-mq/engine';
import { superviseBroker } from './broker-supervision';
import { ChildSupervisor } from './child-supervisor';
import { sampleOpsToken } from './ops-token';
import {
  STOP_STAGES,
  STOP_TIMEOUT_MS,
  awaitReady,
  startPart,
  startServicesAndConsole,
  type PartChild,
  type ServicesAndConsole,
} from './sample-parts';
import type {
  SampleProcesses,
  SampleProcessesOptions,
  SampleProcessesRabbitMqOptions,
  SamplePartExit,
} from './sample-processes.types';

export { SampleStartError } from './sample-start.error';
export type {
  BrokerRestartEvent,
  SampleBrokerRestartOptions,
  SamplePartExit,
  SampleProcesses,
  SampleProcessesConsoleOptions,
  SampleProcessesOptions,
  SampleProcessesRabbitMqOptions,
} from './sample-processes.types';

/** The PostgreSQL schemas of the services' tables on RabbitMQ: their defaults, as in the single-process mode. */
export const SAMPLE_SCHEMAS = { orders: 'order_service', payments: 'payment_service' } as const;

/** The consumer groups whose DLQs the console shows on RabbitMQ. */
export const SAMPLE_GROUPS = ['payment-service', 'order-service'] as const;

/** A PostgreSQL URL whose connections use `schema` for unqualified table names (how the console finds an outbox). */
export function withSearchPath(databaseUrl: string, schema: string): string {
  const url = new URL(databaseUrl);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return url.toString();
}

const never = (): Promise<never> => new Promise<never>(() => undefined);

/**
 * Starts the broker (apps/broker), then the payment and order services (each `src/main.ts`), then the console
 * (apps/console) when asked, as separate processes: the services connected to the broker with the remote transport,
 * the console with BROKER_URL and the services' SQLite files. Data: `<dataDir>/broker`, `orders.sqlite`,
 * `payments.sqlite`, `console/` (the same layout as the single-process sample). With `rabbitmq`: no broker process.
 */
export async function startSampleProcesses(options: SampleProcessesOptions): Promise<SampleProcesses> {
  const host = options.host ?? '127.0.0.1';
  const output = options.output ?? ((line: string) => console.log(line));
  const timeout = options.startTimeoutMs ?? 60_000;
  ownerOnlyDirectory(options.dataDir);
  const opsToken = sampleOpsToken(options.dataDir, options.opsToken);
  const supervisor = new ChildSupervisor();
  const context = { supervisor, host, output, timeout };
  if (options.rabbitmq) {
    return startOnRabbitMq({ ...options, opsToken }, options.rabbitmq, context, opsToken);
  }

  const token = options.brokerToken ?? randomBytes(18).toString('base64url');
  const ordersFile = join(options.dataDir, 'orders.sqlite');
  const paymentsFile = join(options.dataDir, 'payments.sqlite');
  let closing = false;
  /** Ends a restart backoff early when the sample closes. */
  let wakeBackoff: (() => void) | undefined;
  const stopAll = async (): Promise<void> => {
    wakeBackoff?.();
    await supervisor.stopInStages(STOP_STAGES, STOP_TIMEOUT_MS);
  };
  try {
    const brokerEnv = (port: number, healthPort: number): Record<string, string> => ({
      BROKER_PORT: String(port),
      BROKER_HEALTH_PORT: String(healthPort),
    });
    let broker = startPart(
      supervisor,
      { name: 'broker', label: 'broker', portVariable: 'BROKER_PORT', port: options.brokerPort },
      'apps/broker/src/main.ts',
      {
        BROKER_HOST: host === '0.0.0.0' || host === '::' ? host : '127.0.0.1',
        ...brokerEnv(options.brokerPort, options.brokerPort === 0 ? 0 : options.brokerPort + 1),
        BROKER_DATA_DIR: join(options.dataDir, 'broker'),
        BROKER_TOKEN: token,
        BROKER_READY_LINE: 'true',
        ...options.env,
      },
      output,
    );
    const brokerReady = await awaitReady<{ url: string; port: number; healthPort: number | null }>(
      broker,
      'BROKER_READY',
      timeout,
    );
    const parts = await startServicesAndConsole(
      { ...options, opsToken },
      {
        service: {
          BROKER_URL: brokerReady.url,
          BROKER_TOKEN: token,
          HOST: host,
          SERVICE_READY_LINE: 'true',
          ...options.env,
        },
        payment: { DATABASE_FILE: paymentsFile },
        order: { DATABASE_FILE: ordersFile },
        // Its broker is the broker process; settings of other broker sources in this environment do not apply.
        consoleSource: {
          BROKER_URL: brokerReady.url,
          BROKER_TOKEN: token,
          BROKER_DATA_DIR: '',
          RABBITMQ_URL: '',
          RABBITMQ_DLQ_GROUPS: '',
          RABBITMQ_PREFIX: '',
          BROKER_CONNECT_TIMEOUT: '',
          SERVICE_DATABASES: `orders=sqlite:${ordersFile},payments=sqlite:${paymentsFile}`,
        },
      },
      context,
    );

    const restart = options.brokerRestart;
    const brokerGaveUp = restart
      ? superviseBroker(restart, {
          supervisor,
          first: broker,
          // The same port as the first run even when BROKER_PORT=0 picked it: the services' BROKER_URL names it.
          restartEnv: brokerEnv(brokerReady.port, brokerReady.healthPort ?? 0),
          timeout,
          replaced: (next) => (broker = next),
          closing: () => closing,
          backoff: (ms) =>
            new Promise<void>((done) => {
              const timer = setTimeout(done, ms);
              wakeBackoff = () => {
                clearTimeout(timer);
                done();
              };
            }),
        })
      : never();
    const watched = [...(restart ? [] : [broker]), ...partsOf(parts)];
    return result(parts, {
      brokerUrl: brokerReady.url,
      healthUrl: brokerReady.healthPort === null ? null : `http://127.0.0.1:${brokerReady.healthPort}`,
      opsToken,
      brokerPid: () => broker.child.pid!,
      childExited: Promise.race<SamplePartExit>([firstExit(watched), brokerGaveUp]).then((ended) =>
        closing ? never() : ended,
      ),
      close: () => {
        closing = true;
        return stopAll();
      },
    });
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/**
 * The RabbitMQ + PostgreSQL form: the payment and order services, then the console when asked, with no broker
 * process. The services read RABBITMQ_URL, RABBITMQ_PREFIX and DATABASE_URL; the console reads RabbitMQ's DLQs of the
 * sample's groups and both outboxes in PostgreSQL.
 */
async function startOnRabbitMq(
  options: SampleProcessesOptions,
  rabbitmq: SampleProcessesRabbitMqOptions,
  context: { supervisor: ChildSupervisor; host: string; output: (line: string) => void; timeout: number },
  opsToken: string,
): Promise<SampleProcesses> {
  const prefix = rabbitmq.prefix ?? 'rmq';
  let closing = false;
  const stopAll = (): Promise<void> => context.supervisor.stopInStages(STOP_STAGES, STOP_TIMEOUT_MS);
  try {
    const parts = await startServicesAndConsole(
      options,
      {
        service: {
          RABBITMQ_URL: rabbitmq.url,
          RABBITMQ_PREFIX: prefix,
          DATABASE_URL: rabbitmq.databaseUrl,
          // The broker process's settings do not apply here, whatever this environment holds.
          BROKER_URL: '',
          BROKER_TOKEN: '',
          HOST: context.host,
          SERVICE_READY_LINE: 'true',
          ...options.env,
        },
        payment: {},
        order: {},
        consoleSource: {
          RABBITMQ_URL: rabbitmq.url,
          RABBITMQ_DLQ_GROUPS: SAMPLE_GROUPS.join(','),
          RABBITMQ_PREFIX: prefix,
          BROKER_URL: '',
          BROKER_TOKEN: '',
          BROKER_DATA_DIR: '',
          BROKER_CONNECT_TIMEOUT: '',
          SERVICE_DATABASES:
            `orders=${withSearchPath(rabbitmq.databaseUrl, SAMPLE_SCHEMAS.orders)},` +
            `payments=${withSearchPath(rabbitmq.databaseUrl, SAMPLE_SCHEMAS.payments)}`,
        },
      },
      context,
    );
    return result(parts, {
      brokerUrl: null,
      healthUrl: null,
      opsToken,
      brokerPid: () => undefined,
      childExited: firstExit(partsOf(parts)).then((ended) => (closing ? never() : ended)),
      close: () => {
        closing = true;
        return stopAll();
      },
    });
  } catch (error) {
    await stopAll();
    throw error;
  }
}

function partsOf(parts: ServicesAndConsole): PartChild[] {
  return [parts.payment, parts.order, ...(parts.console ? [parts.console] : [])];
}

/** The first of `parts` to end, named as in a sentence. */
function firstExit(parts: readonly PartChild[]): Promise<SamplePartExit> {
  return Promise.race(parts.map(({ part, child }) => child.closed.then((ended) => ({ name: part.label, ...ended }))));
}

function result(
  parts: ServicesAndConsole,
  run: {
    brokerUrl: string | null;
    healthUrl: string | null;
    opsToken: string;
    brokerPid(): number | undefined;
    childExited: Promise<SamplePartExit>;
    close(): Promise<void>;
  },
): SampleProcesses {
  let closed: Promise<void> | undefined;
  return {
    brokerUrl: run.brokerUrl,
    healthUrl: run.healthUrl,
    orderUrl: parts.orderUrl,
    paymentUrl: parts.paymentUrl,
    opsToken: run.opsToken,
    consoleUrl: parts.consoleUrl,
    pids: {
      get broker() {
        return run.brokerPid();
      },
      order: parts.order.child.pid!,
      payment: parts.payment.child.pid!,
      ...(parts.console ? { console: parts.console.child.pid! } : {}),
    },
    childExited: run.childExited,
    close: () => (closed ??= run.close()),
  };
}
