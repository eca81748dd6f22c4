import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sleep } from './loops';

/** What a NATS server says first on every client connection (its `INFO` line), the fields the benchmark reads. */
export interface NatsServerInfo {
  version: string;
  jetstream: boolean;
}

/**
 * Reads the server's `INFO` line without a client library: NATS sends it unprompted on connect, so the harness can
 * name the version (and see whether JetStream is on) in the machine description without loading `nats`.
 */
export function natsServerInfo(host: string, port: number, timeoutMs = 2000): Promise<NatsServerInfo> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let text = '';
    const finish = (error: Error | null, info?: NatsServerInfo): void => {
      socket.removeAllListeners();
      socket.on('error', () => undefined);
      socket.destroy();
      if (error) reject(error);
      else resolve(info!);
    };
    socket.setTimeout(timeoutMs, () => finish(new Error(`no INFO from ${host}:${port} within ${timeoutMs} ms`)));
    socket.once('error', (error) => finish(error));
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const end = text.indexOf('\r\n');
      if (end < 0) return;
      const line = text.slice(0, end);
      if (!line.startsWith('INFO ')) {
        finish(new Error(`${host}:${port} did not greet like a NATS server: ${line.slice(0, 80)}`));
        return;
      }
      try {
        const parsed = JSON.parse(line.slice('INFO '.length)) as { version?: unknown; jetstream?: unknown };
        finish(null, { version: String(parsed.version ?? 'unknown'), jetstream: parsed.jetstream === true });
      } catch (error) {
        finish(error as Error);
      }
    });
  });
}

/** Whether a `2.10.27`-style version is at least `major.minor`; null when the text is not a version. */
export function versionAtLeast(version: string, major: number, minor: number): boolean | null {
  const match = /^v?(\d+)\.(\d+)/.exec(version);
  if (!match) return null;
  const [maj, min] = [Number(match[1]), Number(match[2])];
  return maj > major || (maj === major && min >= minor);
}

/** The version a `nats-server` binary reports (`nats-server: v2.10.27`). */
export async function natsServerBinaryVersion(bin: string): Promise<string> {
  const { stdout } = await promisify(execFile)(bin, ['--version'], { timeout: 10_000 });
  const match = /v?(\d+\.\d+\.\d+\S*)/.exec(stdout);
  if (!match) throw new Error(`${bin} --version said ${JSON.stringify(stdout.trim())}`);
  return match[1]!;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Servers started and not yet stopped, killed if the benchmark ends without stopping them. */
const running = new Set<ChildProcess>();
let exitHooked = false;

/**
 * A benchmark that fails or is interrupted (Ctrl-C, SIGTERM) must not leave its servers behind: on exit, and on
 * SIGINT or SIGTERM before the signal takes its usual effect, every server still running is killed.
 */
function killLeftoversOnExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  const killAll = (): void => {
    for (const child of running) child.kill('SIGKILL');
    running.clear();
  };
  process.once('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAll();
      process.kill(process.pid, signal);
    });
  }
}

export interface NatsServerOptions {
  bin: string;
  /** The store directory (created by the caller, removed by the caller). */
  storeDir: string;
  /** Lines added inside the `jetstream { }` block of the configuration, e.g. `sync_interval: always`. */
  jetstream?: string[];
}

/**
 * A nats-server the benchmark starts for itself: loopback only, a free port, its own store directory, JetStream on.
 * The shared server is never touched; this one is stopped by its PID at the end of the suite.
 */
export class NatsServerProcess {
  private stderrTail = '';
  private exited: Promise<number | null>;

  /** As the running server reports it in its INFO line. */
  version = 'unknown';

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-2000);
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', (code) => {
        running.delete(child);
        resolve(code);
      }),
    );
    running.add(child);
    killLeftoversOnExit();
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  static async start(options: NatsServerOptions): Promise<NatsServerProcess> {
    const port = await freePort();
    const conf = join(options.storeDir, 'nats-server.conf');
    writeFileSync(
      conf,
      [
        'host: 127.0.0.1',
        `port: ${port}`,
        'jetstream {',
        `  store_dir: ${JSON.stringify(join(options.storeDir, 'store'))}`,
        ...(options.jetstream ?? []).map((line) => `  ${line}`),
        '}',
        '',
      ].join('\n'),
    );
    const child = spawn(options.bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', reject);
    });
    await spawned;
    const server = new NatsServerProcess(child, port);
    const deadline = Date.now() + 15_000;
    let exitCode: number | null | undefined;
    void server.exited.then((code) => (exitCode = code));
    for (;;) {
      if (exitCode !== undefined) {
        throw new Error(`nats-server exited (code ${exitCode}): ${server.stderrTail.trim().slice(-500)}`);
      }
      let info: NatsServerInfo | undefined;
      try {
        info = await natsServerInfo('127.0.0.1', port, 1000);
      } catch {
        if (Date.now() > deadline) {
          await server.stop();
          throw new Error(`nats-server did not answer on port ${port} within 15 s: ${server.stderrTail.slice(-300)}`);
        }
        await sleep(50);
        continue;
      }
      if (!info.jetstream) {
        await server.stop();
        throw new Error('nats-server started without JetStream');
      }
      server.version = info.version;
      return server;
    }
  }

  /** SIGTERM to its PID (JetStream flushes and closes its stores), SIGKILL if it has not exited within 10 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timedOut = await Promise.race([this.exited.then(() => false), sleep(10_000).then(() => true)]);
    if (timedOut) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}
