import { join } from 'node:path';
import { ChildNotReadyError, type ChildSupervisor, type SupervisedChild } from './child-supervisor';
import { SampleStartError } from './sample-start.error';
import type { SampleProcessesOptions } from './sample-processes.types';

/** One part of the sample: its name in the output, and the setting that moves its port. */
export interface Part {
  name: 'broker' | 'payment' | 'order' | 'console';
  /** As in a sentence: `order service`. */
  label: string;
  portVariable: string;
  port: number;
}

/** A part and the process running it. */
export interface PartChild {
  part: Part;
  child: SupervisedChild;
}

/** The lines by which the parts say they are ready: read by the supervisor, not shown. */
const READY_LINE = /^(BROKER|SERVICE|CONSOLE)_READY /;

/** The order in which the parts stop: the console first (it reads the others), the services (they drain), the broker. */
export const STOP_STAGES = [['console'], ['order', 'payment'], ['broker']] as const;

/** How long a part may take to stop before it is killed. */
export const STOP_TIMEOUT_MS = 20_000;

/** Starts a part in a process group of its own, its output forwarded line by line with its name as a prefix. */
export function startPart(
  supervisor: ChildSupervisor,
  part: Part,
  entry: string,
  env: Record<string, string>,
  output: (line: string) => void,
): PartChild {
  const child = supervisor.start({
    name: part.name,
    entry,
    env,
    // A process group of its own: a Ctrl+C in the terminal reaches only the parent, which stops the parts in order.
    detached: true,
    onLine: (line) => {
      if (!READY_LINE.test(line)) output(`[${part.name}] ${line}`);
    },
  });
  return { part, child };
}

/** The JSON of the part's `<marker> {...}` line; a SampleStartError saying why when it ends or stalls first. */
export async function awaitReady<T>({ part, child }: PartChild, marker: string, timeoutMs: number): Promise<T> {
  try {
    return await child.readyLine<T>(marker, timeoutMs);
  } catch (error) {
    if (!(error instanceof ChildNotReadyError)) throw error;
    if (!error.ended)
      throw new SampleStartError(`The ${part.label} did not start within ${timeoutMs / 1000} s.`, part.name);
    throw startFailure(part, child.recent, error.ended.code ?? error.ended.signal);
  }
}

/** Why a part ended before it was ready: a port in use names the setting to change; anything else shows its output. */
function startFailure(part: Part, recent: readonly string[], ended: number | string | null): SampleStartError {
  if (/EADDRINUSE|already in use/.test(recent.join('\n'))) {
    const which =
      part.name === 'broker' && part.port !== 0
        ? `${part.port} or ${part.port + 1} (broker, health)`
        : `${part.port} (${part.label})`;
    return new SampleStartError(
      `Port ${which} is already in use. Stop what listens there, or choose another port: ` +
        `${part.portVariable}=<port> npm start`,
      part.name,
      part.portVariable,
    );
  }
  const tail = recent
    .filter((line) => line.trim() !== '')
    .slice(-12)
    .map((line) => `    ${line}`);
  return new SampleStartError(
    `The ${part.label} exited (${ended}) before it was ready${tail.length > 0 ? `; its last output:\n${tail.join('\n')}` : '.'}`,
    part.name,
  );
}

/** The environments of the services and the console, which differ between the broker process and RabbitMQ. */
export interface ServiceEnvironments {
  /** Both services: how they reach their broker and databases. */
  service: Record<string, string>;
  payment: Record<string, string>;
  order: Record<string, string>;
  /** The console's broker source and service databases; the rest of its settings are the same in every mode. */
  consoleSource: Record<string, string>;
}

export interface StartContext {
  supervisor: ChildSupervisor;
  host: string;
  output: (line: string) => void;
  timeout: number;
}

export interface ServicesAndConsole {
  payment: PartChild;
  order: PartChild;
  paymentUrl: string;
  orderUrl: string;
  console: PartChild | undefined;
  consoleUrl: string | null;
}

/** Starts the payment and order services, then, once they have created what it reads, the console if asked. */
export async function startServicesAndConsole(
  options: SampleProcessesOptions,
  env: ServiceEnvironments,
  { supervisor, host, output, timeout }: StartContext,
): Promise<ServicesAndConsole> {
  const payment = startPart(
    supervisor,
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
  const order = startPart(
    supervisor,
    { name: 'order', label: 'order service', portVariable: 'ORDER_PORT', port: options.orderPort },
    'apps/order-service/src/main.ts',
    { ...env.service, ORDER_PORT: String(options.orderPort), ...env.order },
    output,
  );
  const [paymentReady, orderReady] = await Promise.all([
    awaitReady<{ url: string }>(payment, 'SERVICE_READY', timeout),
    awaitReady<{ url: string }>(order, 'SERVICE_READY', timeout),
  ]);
  const services = { payment, order, paymentUrl: paymentReady.url, orderUrl: orderReady.url };
  if (!options.console) return { ...services, console: undefined, consoleUrl: null };

  const consolePart = startPart(
    supervisor,
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
  const consoleUrl = (await awaitReady<{ url: string }>(consolePart, 'CONSOLE_READY', timeout)).url;
  return { ...services, console: consolePart, consoleUrl };
}
