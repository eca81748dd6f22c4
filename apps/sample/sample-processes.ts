import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { ownerOnlyDirectory } from '@reliable-mq/engine';
import { BrokerRestartPolicy, type BrokerRestartLimits } from './broker-restart-policy';
import { sampleOpsToken } from './ops-token';

/** The standalone console as a fourth process (apps/console), connected to the broker process. */
export interface SampleProcessesConsoleOptions {
  /** 0 picks a free port. */
  port: number;
  /** CONSOLE_USERS_FILE of the console: the demo login. */
  usersFile: string;
}

/** What the broker supervisor reports while it restarts a broker process that died on its own. */
export type BrokerRestartEvent =
  | {
      kind: 'exited';
      code: number | null;
      signal: NodeJS.Signals | null;
      /** The wait before the restart. */
      delayMs: number;
      /** 1-based, over the whole run. */
      count: number;
    }
  /** A restarted broker ended or stalled before it was ready; its exit counts like any other. */
  | { kind: 'start-failed'; message: string; count: number }
  | { kind: 'back'; url: string; pid: number; count: number };

/** `npm start`'s supervision of the broker: restarted on the same port and data when it dies on its own. */
export interface SampleBrokerRestartOptions {
  limits: BrokerRestartLimits;
  onEvent(event: BrokerRestartEvent): void;
}

/**
 * The processes of the sample when each part runs on its own against the standalone broker: the broker, the order
 * service, the payment service and, when `console` is given, the compensation console.
 */
export interface SampleProcessesOptions {
  dataDir: string;
  host?: string;
  orderPort: number;
  paymentPort: number;
  /** 0 picks a free port. */
  brokerPort: number;
  /** Default: a random token for this run, handed to the services. */
  brokerToken?: string;
  /** Retry delays of the payment consumer (PAYMENT_RETRY_DELAYS); the payment service's default when absent. */
  retryDelays?: string;
  /** Token of the payment service's resend endpoint (OPS_TOKEN). Default: the one kept in `<dataDir>/ops-token`. */
  opsToken?: string;
  console?: SampleProcessesConsoleOptions;
  /**
   * Restart the broker process whenever it exits other than through `close`, until the limits give up. Absent: the
   * broker's exit settles `childExited` like any other part's.
   */
  brokerRestart?: SampleBrokerRestartOptions;
  /**
   * The services on RabbitMQ with their data in PostgreSQL (each in its own schema, `order_service` and
   * `payment_service`, as in the single-process mode), and the console on RabbitMQ's DLQs: no broker process is
   * started, and the broker settings (`brokerPort`, `brokerToken`, `brokerRestart`) do not apply.
   */
  rabbitmq?: SampleProcessesRabbitMqOptions;
  /** Extra environment for every child (e.g. BROKER_ENGINE_OPTIONS). */
  env?: Record<string, string>;
  /** Where children's output goes, line by line with a prefix. Default: this process's stdout. */
  output?: (line: string) => void;
  startTimeoutMs?: number;
}

export interface SampleProcessesRabbitMqOptions {
  url: string;
  /** A PostgreSQL URL: both services' database. */
  databaseUrl: string;
  /** Prefix of the exchanges and queues. Default `rmq`. */
  prefix?: string;
}

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

export interface SampleProcesses {
  /** Null on RabbitMQ: no broker process. */
  brokerUrl: string | null;
  healthUrl: string | null;
  orderUrl: string;
  paymentUrl: string;
  /** What the payment service's resend endpoint takes as `authorization: Bearer <token>`. */
  opsToken: string;
  /** `http://host:port/console`, when the console was started. */
  consoleUrl: string | null;
  /** The broker's is that of the process running now: a restart changes it. */
  readonly pids: { readonly broker: number | undefined; order: number; payment: number; console?: number };
  /**
   * SIGTERM to the console, then the services, then the broker, each waited for (SIGKILL after a bound). The
   * children run in process groups of their own, so a Ctrl+C in the terminal reaches only this process, which stops
   * them in that order.
   */
  close(): Promise<void>;
  /**
   * Settles when any child exits on its own (not through close); with `brokerRestart`, the broker's exits settle it
   * only once the restart limits give up, with `reason` saying why.
   */
  readonly childExited: Promise<{ name: string; code: number | null; signal: NodeJS.Signals | null; reason?: string }>;
}

const ROOT = resolve(__dirname, '..', '..');
const TS_PROJECT = join(ROOT, 'tsconfig.json');

/** One part of the sample: its name in the output, and the setting that moves its port. */
interface Part {
  name: 'broker' | 'payment' | 'order' | 'console';
  /** As in a sentence: `order service`. */
  label: string;
  portVariable: string;
  port: number;
}

interface Child extends Part {
  process: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The child's last lines of output, for the message when it fails to start. */
  recent: string[];
}

/** A part of the sample did not start; the message says which and, when it can, what to change. */
export class SampleStartError extends Error {
  constructor(
    message: string,
    readonly part: string,
    /** The setting to change when the part's port was taken. */
    readonly portVariable?: string,
  ) {
    super(message);
    this.name = 'SampleStartError';
  }
}

/** Children still running, stopped with the parent should it exit without closing them (an uncaught error). */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function startChild(part: Part, entry: string, env: Record<string, string>, output: (line: string) => void): Child {
  const child = spawn(process.execPath, ['-r', require.resolve('@swc-node/register'), join(ROOT, entry)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    // A process group of its own: a Ctrl+C in the terminal reaches only the parent, which stops the parts in order.
    detached: true,
    env: { ...process.env, ...env, SWC_NODE_PROJECT: TS_PROJECT, TS_NODE_PROJECT: TS_PROJECT },
  });
  running.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const orphan of running) orphan.kill('SIGTERM');
    });
  }
  const recent: string[] = [];
  const forward = (stream: NodeJS.ReadableStream): void => {
    let pending = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      pending += chunk;
      let end: number;
      while ((end = pending.indexOf('\n')) !== -1) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 1);
        recent.push(line);
        if (recent.length > 40) recent.shift();
        if (!/^(BROKER|SERVICE|CONSOLE)_READY /.test(line)) output(`[${part.name}] ${line}`);
      }
    });
  };
  forward(child.stdout!);
  forward(child.stderr!);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('close', (code, signal) => {
      running.delete(child);
      done({ code, signal });
    }),
  );
  return { ...part, process: child, exited, recent };
}

/** Resolves with the JSON of the first `<marker> {...}` line the child prints. */
function readyLine<T>(child: Child, marker: string, timeoutMs: number): Promise<T> {
  return new Promise((resolveReady, reject) => {
    let seen = '';
    const timer = setTimeout(
      () => reject(new SampleStartError(`The ${child.label} did not start within ${timeoutMs / 1000} s.`, child.name)),
      timeoutMs,
    );
    child.process.stdout!.on('data', (chunk: Buffer | string) => {
      seen += chunk.toString();
      const match = new RegExp(`${marker} (\\{.*\\})`).exec(seen);
      if (match) {
        clearTimeout(timer);
        resolveReady(JSON.parse(match[1]!) as T);
      }
    });
    void child.exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(startFailure(child, code ?? signal));
    });
  });
}

/** Why a child ended before it was ready: a port in use names the setting to change; anything else shows its output. */
function startFailure(child: Child, ended: number | string | null): SampleStartError {
  const output = child.recent.join('\n');
  if (/EADDRINUSE|already in use/.test(output)) {
    const which =
      child.name === 'broker' && child.port !== 0
        ? `${child.port} or ${child.port + 1} (broker, health)`
        : `${child.port} (${child.label})`;
    return new SampleStartError(
      `Port ${which} is already in use. Stop what listens there, or choose another port: ` +
        `${child.portVariable}=<port> npm start`,
      child.name,
      child.portVariable,
    );
  }
  const tail = child.recent
    .filter((line) => line.trim() !== '')
    .slice(-12)
    .map((line) => `    ${line}`);
  return new SampleStartError(
    `The ${child.label} exited (${ended}) before it was ready${tail.length > 0 ? `; its last output:\n${tail.join('\n')}` : '.'}`,
    child.name,
  );
}

async function stopChild(child: Child, timeoutMs: number): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.process.kill('SIGTERM');
  const timer = setTimeout(() => child.process.kill('SIGKILL'), timeoutMs);
  await child.exited;
  clearTimeout(timer);
}

/**
 * Starts the broker (apps/broker), then the payment and order services (each `src/main.ts`), then the console
 * (apps/console) when asked, as separate processes: the services connected to the broker with the remote transport,
 * the console with BROKER_URL and the services' SQLite files. Data: `<dataDir>/broker`, `orders.sqlite`,
 * `payments.sqlite`, `console/` (the same layout as the single-process sample).
 */
/** Stops the console first (it reads the others), then the services (they drain), then the broker where there is one. */
async function stopInStages(started: readonly Child[]): Promise<void> {
  const byStage = (names: string[]): Child[] => started.filter((child) => names.includes(child.name));
  for (const stage of [['console'], ['order', 'payment'], ['broker']])
    await Promise.all(byStage(stage).map((child) => stopChild(child, 20_000)));
}

export async function startSampleProcesses(options: SampleProcessesOptions): Promise<SampleProcesses> {
  const host = options.host ?? '127.0.0.1';
  const output = options.output ?? ((line: string) => console.log(line));
  const timeout = options.startTimeoutMs ?? 60_000;
  const token = options.brokerToken ?? randomBytes(18).toString('base64url');
  ownerOnlyDirectory(options.dataDir);
  const opsToken = sampleOpsToken(options.dataDir, options.opsToken);
  const ordersFile = join(options.dataDir, 'orders.sqlite');
  const paymentsFile = join(options.dataDir, 'payments.sqlite');
  const started: Child[] = [];
  let closing = false;
  /** Ends a restart backoff early when the sample closes. */
  let wakeBackoff: (() => void) | undefined;
  const stopAll = async (): Promise<void> => {
    wakeBackoff?.();
    await stopInStages(started);
  };
  if (options.rabbitmq) return startOnRabbitMq({ ...options, opsToken }, options.rabbitmq, host, output, timeout);
  try {
    const startBroker = (port: number, healthPort: number): Child =>
      startChild(
        { name: 'broker', label: 'broker', portVariable: 'BROKER_PORT', port },
        'apps/broker/src/main.ts',
        {
          BROKER_HOST: host === '0.0.0.0' || host === '::' ? host : '127.0.0.1',
          BROKER_PORT: String(port),
          BROKER_HEALTH_PORT: String(healthPort),
          BROKER_DATA_DIR: join(options.dataDir, 'broker'),
          BROKER_TOKEN: token,
          BROKER_READY_LINE: 'true',
          ...options.env,
        },
        output,
      );
    let broker = startBroker(options.brokerPort, options.brokerPort === 0 ? 0 : options.brokerPort + 1);
    started.push(broker);
    const brokerReady = await readyLine<{ url: string; port: number; healthPort: number | null }>(
      broker,
      'BROKER_READY',
      timeout,
    );
    const serviceEnv = {
      BROKER_URL: brokerReady.url,
      BROKER_TOKEN: token,
      HOST: host,
      SERVICE_READY_LINE: 'true',
      ...options.env,
    };
    const { payment, order, paymentReady, orderReady, consoleChild, consoleUrl } = await startServicesAndConsole(
      { ...options, opsToken },
      {
        service: serviceEnv,
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
      { host, output, timeout, started },
    );

    let closed: Promise<void> | undefined;
    type Ended = { name: string; code: number | null; signal: NodeJS.Signals | null; reason?: string };
    const restart = options.brokerRestart;
    const others = started.filter((child) => child !== broker || !restart);
    const brokerGaveUp = restart
      ? superviseBroker(restart, {
          first: broker,
          // The same port as the first run even when BROKER_PORT=0 picked it: the services' BROKER_URL names it.
          start: () => startBroker(brokerReady.port, brokerReady.healthPort ?? 0),
          ready: (child) => readyLine<{ url: string }>(child, 'BROKER_READY', timeout),
          replaced: (previous, next) => {
            started.splice(started.indexOf(previous), 1, next);
            broker = next;
          },
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
      : new Promise<never>(() => undefined);
    const childExited = Promise.race<Ended>([
      ...others.map((child) => child.exited.then((result) => ({ name: child.label, ...result }))),
      brokerGaveUp,
    ]).then((result) => (closing ? new Promise<never>(() => undefined) : result));
    return {
      brokerUrl: brokerReady.url,
      healthUrl: brokerReady.healthPort === null ? null : `http://127.0.0.1:${brokerReady.healthPort}`,
      orderUrl: orderReady.url,
      paymentUrl: paymentReady.url,
      opsToken,
      consoleUrl,
      pids: {
        get broker() {
          return broker.process.pid!;
        },
        order: order.process.pid!,
        payment: payment.process.pid!,
        ...(consoleChild ? { console: consoleChild.process.pid! } : {}),
      },
      childExited,
      close: () => {
        closing = true;
        closed ??= stopAll();
        return closed;
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

interface ServiceEnvironments {
  /** Both services: how they reach their broker and databases. */
  service: Record<string, string>;
  payment: Record<string, string>;
  order: Record<string, string>;
  /** The console's broker source and service databases; the rest of its settings are the same in every mode. */
  consoleSource: Record<string, string>;
}

interface StartContext {
  host: string;
  output: (line: string) => void;
  timeout: number;
  /** Every child goes in here as it starts, so that a failure stops what already runs. */
  started: Child[];
}

/** Starts the payment and order services, then, once they have created what it reads, the console if asked. */
async function startServicesAndConsole(
  options: SampleProcessesOptions,
  env: ServiceEnvironments,
  { host, output, timeout, started }: StartContext,
): Promise<{
  payment: Child;
  order: Child;
  paymentReady: { url: string };
  orderReady: { url: string };
  consoleChild: Child | undefined;
  consoleUrl: string | null;
}> {
  const payment = startChild(
    { name: 'payment', label: 'payment service', portVariable: 'PAYMENT_PORT', port: options.paymentPort },
    'apps/payment-service/src/main.ts',
    {
      ...env.service,
      PAYMENT_PORT: String(options.paymentPort),
      ...(options.opsToken ? { OPS_TOKEN: options.opsToken } : {}),
      ...env.payment,
      ...(options.retryDelays ? { PAYMENT_RETRY_DELAYS: options.retryDelays } : {}),
    },
    output,
  );
  started.push(payment);
  const order = startChild(
    { name: 'order', label: 'order service', portVariable: 'ORDER_PORT', port: options.orderPort },
    'apps/order-service/src/main.ts',
    { ...env.service, ORDER_PORT: String(options.orderPort), ...env.order },
    output,
  );
  started.push(order);
  const [paymentReady, orderReady] = await Promise.all([
    readyLine<{ url: string }>(payment, 'SERVICE_READY', timeout),
    readyLine<{ url: string }>(order, 'SERVICE_READY', timeout),
  ]);
  if (!options.console) return { payment, order, paymentReady, orderReady, consoleChild: undefined, consoleUrl: null };

  const consoleChild = startChild(
    { name: 'console', label: 'console', portVariable: 'CONSOLE_PORT', port: options.console.port },
    'apps/console/src/main.ts',
    {
      CONSOLE_PORT: String(options.console.port),
      HOST: host,
      CONSOLE_PATH: '/console',
      ...env.consoleSource,
      CONSOLE_USERS_FILE: options.console.usersFile,
      CONSOLE_TOKENS_FILE: '',
      CONSOLE_STORE: join(options.dataDir, 'console', 'console.sqlite'),
      // The payment service dedups with the `db` store, whose inbox rows are kept for the default 7 days.
      CONSOLE_DEDUP_WINDOWS: 'payment-service=7d',
      // Card numbers are masked on the console's pages, API and audit log, the last four shown, as the services do
      // (the same setting as SAMPLE_CONSOLE_REDACTION of the single-process sample).
      CONSOLE_REDACT: 'card:4',
      CONSOLE_READY_LINE: 'true',
      ...options.env,
    },
    output,
  );
  started.push(consoleChild);
  const consoleUrl = (await readyLine<{ url: string }>(consoleChild, 'CONSOLE_READY', timeout)).url;
  return { payment, order, paymentReady, orderReady, consoleChild, consoleUrl };
}

interface BrokerSupervision {
  first: Child;
  start(): Child;
  ready(child: Child): Promise<{ url: string }>;
  /** The restarted broker takes the place of the one that died: close() stops it, `pids.broker` names it. */
  replaced(previous: Child, next: Child): void;
  closing(): boolean;
  /** Resolves after the wait, or at once when the sample closes. */
  backoff(ms: number): Promise<void>;
}

/**
 * Restarts the broker each time it exits while the sample is not closing, after the policy's backoff; settles (with
 * the last exit and the policy's reason) only when the policy gives up. A restarted broker that never says it is ready
 * is killed and counts as one more exit.
 */
async function superviseBroker(
  restart: SampleBrokerRestartOptions,
  supervision: BrokerSupervision,
): Promise<{ name: string; code: number | null; signal: NodeJS.Signals | null; reason: string }> {
  const policy = new BrokerRestartPolicy(restart.limits);
  let current = supervision.first;
  for (;;) {
    const ended = await current.exited;
    if (supervision.closing()) return new Promise<never>(() => undefined);
    const decision = policy.onExit(Date.now());
    if (!decision.restart) return { name: 'broker', ...ended, reason: decision.reason };
    restart.onEvent({ kind: 'exited', ...ended, delayMs: decision.delayMs, count: decision.count });
    await supervision.backoff(decision.delayMs);
    if (supervision.closing()) return new Promise<never>(() => undefined);
    const next = supervision.start();
    supervision.replaced(current, next);
    current = next;
    try {
      const ready = await supervision.ready(next);
      restart.onEvent({ kind: 'back', url: ready.url, pid: next.process.pid!, count: decision.count });
    } catch (error) {
      if (supervision.closing()) return new Promise<never>(() => undefined);
      restart.onEvent({ kind: 'start-failed', message: (error as Error).message, count: decision.count });
      if (next.process.exitCode === null && next.process.signalCode === null) next.process.kill('SIGKILL');
    }
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
  host: string,
  output: (line: string) => void,
  timeout: number,
): Promise<SampleProcesses> {
  const prefix = rabbitmq.prefix ?? 'rmq';
  const started: Child[] = [];
  let closing = false;
  const stopAll = (): Promise<void> => stopInStages(started);
  try {
    const serviceEnv = {
      RABBITMQ_URL: rabbitmq.url,
      RABBITMQ_PREFIX: prefix,
      DATABASE_URL: rabbitmq.databaseUrl,
      // The broker process's settings do not apply here, whatever this environment holds.
      BROKER_URL: '',
      BROKER_TOKEN: '',
      HOST: host,
      SERVICE_READY_LINE: 'true',
      ...options.env,
    };
    const { payment, order, paymentReady, orderReady, consoleChild, consoleUrl } = await startServicesAndConsole(
      options,
      {
        service: serviceEnv,
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
      { host, output, timeout, started },
    );

    let closed: Promise<void> | undefined;
    type Ended = { name: string; code: number | null; signal: NodeJS.Signals | null };
    const childExited = Promise.race<Ended>(
      started.map((child) => child.exited.then((result) => ({ name: child.label, ...result }))),
    ).then((result) => (closing ? new Promise<never>(() => undefined) : result));
    return {
      brokerUrl: null,
      healthUrl: null,
      orderUrl: orderReady.url,
      paymentUrl: paymentReady.url,
      opsToken: options.opsToken ?? '',
      consoleUrl,
      pids: {
        broker: undefined,
        order: order.process.pid!,
        payment: payment.process.pid!,
        ...(consoleChild ? { console: consoleChild.process.pid! } : {}),
      },
      childExited,
      close: () => {
        closing = true;
        closed ??= stopAll();
        return closed;
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
