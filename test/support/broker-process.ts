import type { ChildProcess } from 'node:child_process';
import {
  ChildNotReadyError,
  ChildSupervisor,
  type ChildEnd,
  type SupervisedChild,
} from '../../apps/sample/child-supervisor';

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
  /** Flags for Node itself, e.g. `--cpu-prof` to profile the broker. */
  nodeArgs?: readonly string[];
  /** Bound on waiting for the ready line. Default 30 s. */
  startTimeoutMs?: number;
}

export const TEST_BROKER_TOKEN = 'test-token-0123456789';

/**
 * The real broker (apps/broker/src/main.ts) as a child process, for tests that need a separate process: the contract
 * suite over TCP, SIGKILL and restart. Started and stopped through the sample's ChildSupervisor, by its own PID.
 */
export class BrokerProcess {
  private constructor(
    private readonly supervised: SupervisedChild,
    readonly ready: BrokerReady,
  ) {}

  get child(): ChildProcess {
    return this.supervised.process;
  }

  /** Everything the broker printed so far, both streams in the order they arrived. */
  get output(): string {
    return this.supervised.all();
  }

  /** Settles once the process has ended and its output is all read. */
  get exited(): Promise<ChildEnd> {
    return this.supervised.closed;
  }

  get url(): string {
    return this.ready.url;
  }

  get port(): number {
    return this.ready.port;
  }

  get pid(): number {
    return this.supervised.pid!;
  }

  get running(): boolean {
    return this.supervised.running;
  }

  static async start(options: BrokerProcessOptions): Promise<BrokerProcess> {
    const token = options.token === undefined ? TEST_BROKER_TOKEN : options.token;
    const timeoutMs = options.startTimeoutMs ?? 30_000;
    const child = new ChildSupervisor().start({
      name: 'broker',
      entry: 'apps/broker/src/main.ts',
      collect: true,
      ...(options.nodeArgs ? { nodeArgs: options.nodeArgs } : {}),
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
    try {
      return new BrokerProcess(child, await child.readyLine<BrokerReady>('BROKER_READY', timeoutMs));
    } catch (error) {
      if (!(error instanceof ChildNotReadyError)) throw error;
      await child.kill();
      const why = error.ended
        ? `The broker exited (${error.ended.code ?? error.ended.signal}) before it was ready`
        : `The broker did not start within ${timeoutMs} ms`;
      throw new Error(`${why}:\n${child.all()}`);
    }
  }

  /** SIGKILL: no shutdown, no flush beyond what was already confirmed. */
  async kill(): Promise<void> {
    await this.supervised.kill();
  }

  /** SIGTERM and wait for the graceful shutdown; SIGKILL after `timeoutMs`. */
  stop(timeoutMs = 20_000): Promise<ChildEnd> {
    return this.supervised.stop(timeoutMs);
  }
}
