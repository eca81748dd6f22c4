import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The three processes of the sample when each service runs on its own against the standalone broker. */
export interface SampleProcessesOptions {
  dataDir: string;
  host?: string;
  orderPort: number;
  paymentPort: number;
  /** 0 picks a free port. */
  brokerPort: number;
  /** Default: a random token for this run, handed to the services. */
  brokerToken?: string;
  /** Extra environment for every child (e.g. BROKER_ENGINE_OPTIONS, PAYMENT_RETRY_DELAYS). */
  env?: Record<string, string>;
  /** Where children's output goes, line by line with a prefix. Default: this process's stdout. */
  output?: (line: string) => void;
  startTimeoutMs?: number;
}

export interface SampleProcesses {
  brokerUrl: string;
  healthUrl: string | null;
  orderUrl: string;
  paymentUrl: string;
  pids: { broker: number; order: number; payment: number };
  /**
   * SIGTERM to the services, then to the broker, each waited for (SIGKILL after a bound). With `signalled`, the
   * children already got the signal (Ctrl+C reaches the whole process group): only wait for them.
   */
  close(options?: { signalled?: boolean }): Promise<void>;
  /** Settles when any child exits on its own (not through close). */
  readonly childExited: Promise<{ name: string; code: number | null; signal: NodeJS.Signals | null }>;
}

const ROOT = resolve(__dirname, '..', '..');
const TS_PROJECT = join(ROOT, 'tsconfig.json');

interface Child {
  name: string;
  process: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startChild(name: string, entry: string, env: Record<string, string>, output: (line: string) => void): Child {
  const child = spawn(process.execPath, ['-r', require.resolve('@swc-node/register'), join(ROOT, entry)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env, SWC_NODE_PROJECT: TS_PROJECT, TS_NODE_PROJECT: TS_PROJECT },
  });
  const forward = (stream: NodeJS.ReadableStream): void => {
    let pending = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      pending += chunk;
      let end: number;
      while ((end = pending.indexOf('\n')) !== -1) {
        output(`[${name}] ${pending.slice(0, end)}`);
        pending = pending.slice(end + 1);
      }
    });
  };
  forward(child.stdout!);
  forward(child.stderr!);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('close', (code, signal) => done({ code, signal })),
  );
  return { name, process: child, exited };
}

/** Resolves with the JSON of the first `<marker> {...}` line the child prints. */
function readyLine<T>(child: Child, marker: string, timeoutMs: number): Promise<T> {
  return new Promise((resolveReady, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`${child.name} did not start within ${timeoutMs} ms.`)), timeoutMs);
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
      reject(new Error(`${child.name} exited (${code ?? signal}) before it was ready.`));
    });
  });
}

async function stopChild(child: Child, timeoutMs: number, signalled = false): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  if (!signalled) child.process.kill('SIGTERM');
  const timer = setTimeout(() => child.process.kill('SIGKILL'), timeoutMs);
  await child.exited;
  clearTimeout(timer);
}

/**
 * Starts the broker (apps/broker), then the payment and order services (each `src/main.ts`) as separate processes,
 * the services connected to the broker with the remote transport. Data: `<dataDir>/broker`, `orders.sqlite`,
 * `payments.sqlite` (the same layout as the single-process sample).
 */
export async function startSampleProcesses(options: SampleProcessesOptions): Promise<SampleProcesses> {
  const host = options.host ?? '127.0.0.1';
  const output = options.output ?? ((line: string) => console.log(line));
  const timeout = options.startTimeoutMs ?? 60_000;
  const token = options.brokerToken ?? randomBytes(18).toString('base64url');
  mkdirSync(options.dataDir, { recursive: true });
  const started: Child[] = [];
  const stopAll = async (signalled = false): Promise<void> => {
    for (const child of [...started].reverse()) await stopChild(child, 20_000, signalled);
  };
  try {
    const broker = startChild(
      'broker',
      'apps/broker/src/main.ts',
      {
        BROKER_HOST: host === '0.0.0.0' || host === '::' ? host : '127.0.0.1',
        BROKER_PORT: String(options.brokerPort),
        BROKER_HEALTH_PORT: options.brokerPort === 0 ? '0' : String(options.brokerPort + 1),
        BROKER_DATA_DIR: join(options.dataDir, 'broker'),
        BROKER_TOKEN: token,
        BROKER_READY_LINE: 'true',
        ...options.env,
      },
      output,
    );
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
    const payment = startChild(
      'payment',
      'apps/payment-service/src/main.ts',
      {
        ...serviceEnv,
        PAYMENT_PORT: String(options.paymentPort),
        DATABASE_FILE: join(options.dataDir, 'payments.sqlite'),
      },
      output,
    );
    started.push(payment);
    const order = startChild(
      'order',
      'apps/order-service/src/main.ts',
      { ...serviceEnv, ORDER_PORT: String(options.orderPort), DATABASE_FILE: join(options.dataDir, 'orders.sqlite') },
      output,
    );
    started.push(order);
    const [paymentReady, orderReady] = await Promise.all([
      readyLine<{ url: string }>(payment, 'SERVICE_READY', timeout),
      readyLine<{ url: string }>(order, 'SERVICE_READY', timeout),
    ]);
    let closing = false;
    let closed: Promise<void> | undefined;
    const childExited = Promise.race(
      started.map((child) => child.exited.then((result) => ({ name: child.name, ...result }))),
    ).then((result) => (closing ? new Promise<never>(() => undefined) : result));
    return {
      brokerUrl: brokerReady.url,
      healthUrl: brokerReady.healthPort === null ? null : `http://127.0.0.1:${brokerReady.healthPort}`,
      orderUrl: orderReady.url,
      paymentUrl: paymentReady.url,
      pids: { broker: broker.process.pid!, order: order.process.pid!, payment: payment.process.pid! },
      childExited,
      close: (closeOptions) => {
        closing = true;
        closed ??= stopAll(closeOptions?.signalled ?? false);
        return closed;
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
