import type { ChildProcess } from 'node:child_process';
import { spawnTs } from './spawn-ts';

/** What the broker prints on its ready line (BROKER_READY_LINE=true). */
export interface BrokerReady {
  url: string;
  port: number;
  healthPort: number | null;
}

export interface BrokerProcessOptions {
  dataDir: string;
  /** Default: a test token. null runs without one (BROKER_ALLOW_NO_TOKEN=true on loopback). */
  token?: string | null;
  /** 0 (default) picks a free port; pass the previous port to restart in place. */
  port?: number;
  /** BROKER_HEALTH_PORT; default "off". */
  healthPort?: number | 'off';
  env?: Record<string, string>;
  /** Bound on waiting for the ready line. Default 30 s. */
  startTimeoutMs?: number;
}

export const TEST_BROKER_TOKEN = 'test-token-0123456789';

/**
 * The real broker (apps/broker/src/main.ts) as a child process, for tests that need a separate process: the contract
 * suite over TCP, SIGKILL and restart. Stopped only through its own PID.
 */
export class BrokerProcess {
  output = '';

  private constructor(
    readonly child: ChildProcess,
    readonly ready: BrokerReady,
    readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
  ) {}

  get url(): string {
    return this.ready.url;
  }

  get port(): number {
    return this.ready.port;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  static async start(options: BrokerProcessOptions): Promise<BrokerProcess> {
    const token = options.token === undefined ? TEST_BROKER_TOKEN : options.token;
    const child = spawnTs('apps/broker/src/main.ts', [], {
      env: {
        BROKER_HOST: '127.0.0.1',
        BROKER_PORT: String(options.port ?? 0),
        BROKER_DATA_DIR: options.dataDir,
        BROKER_HEALTH_PORT: String(options.healthPort ?? 'off'),
        BROKER_READY_LINE: 'true',
        BROKER_ENGINE_OPTIONS: JSON.stringify({ minFreeDiskBytes: 0 }),
        ...(token === null ? { BROKER_TOKEN: '', BROKER_ALLOW_NO_TOKEN: 'true' } : { BROKER_TOKEN: token }),
        NO_COLOR: '1',
        ...options.env,
      },
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('close', (code, signal) => resolve({ code, signal })),
    );
    let output = '';
    const ready = await new Promise<BrokerReady>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`The broker did not start within ${options.startTimeoutMs ?? 30_000} ms:\n${output}`));
      }, options.startTimeoutMs ?? 30_000);
      const onData = (chunk: Buffer): void => {
        output += chunk.toString('utf8');
        const match = /BROKER_READY (\{.*\})/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(JSON.parse(match[1]!) as BrokerReady);
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`The broker exited (${code ?? signal}) before it was ready:\n${output}`));
      });
    });
    const broker = new BrokerProcess(child, ready, exited);
    broker.output = output;
    child.stdout!.on('data', (chunk: Buffer) => (broker.output += chunk.toString('utf8')));
    child.stderr!.on('data', (chunk: Buffer) => (broker.output += chunk.toString('utf8')));
    return broker;
  }

  /** SIGKILL: no shutdown, no flush beyond what was already confirmed. */
  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM and wait for the graceful shutdown; SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.running) return this.exited;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }
}
