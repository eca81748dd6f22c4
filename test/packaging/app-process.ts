import { spawn, type ChildProcess } from 'node:child_process';
import { tail } from './run-command';

const LISTENING = /shop listening on (http:\/\/\S+)\r?\n/;

/** A fresh app started as users start it (`node dist/main.js`), or a package's bin; stopped through its own PID only. */
export class AppProcess {
  private output = '';
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private ended = false;
  private baseUrl: string | undefined;
  /** What matched the readiness pattern. */
  ready: RegExpExecArray | undefined;

  private constructor(private readonly child: ChildProcess) {
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString('utf8')));
    this.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        this.ended = true;
        resolve({ code, signal });
      }),
    );
  }

  /** Starts the app and resolves once it listens; rejects with its output if it exits or stays silent. */
  static async start(dir: string, env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<AppProcess> {
    const app = await AppProcess.startUntil(process.execPath, ['dist/main.js'], {
      dir,
      env,
      ready: LISTENING,
      timeoutMs,
    });
    app.baseUrl = app.ready?.[1];
    return app;
  }

  /** Starts `command` and resolves once its output matches `ready`; rejects with its output otherwise. */
  static async startUntil(
    command: string,
    args: readonly string[],
    options: { dir: string; env: NodeJS.ProcessEnv; ready: RegExp; timeoutMs: number },
  ): Promise<AppProcess> {
    const app = new AppProcess(spawn(command, args, { cwd: options.dir, env: options.env, stdio: 'pipe' }));
    const deadline = Date.now() + options.timeoutMs;
    for (;;) {
      const ready = options.ready.exec(app.output);
      if (ready !== null) {
        app.ready = ready;
        return app;
      }
      if (app.ended || Date.now() > deadline) {
        const why = app.ended ? 'exited before it was ready' : `was not ready within ${options.timeoutMs} ms`;
        await app.stop();
        throw new Error(`\`${[command, ...args].join(' ')}\` in ${options.dir} ${why}:\n${tail(app.output)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  get url(): string {
    if (this.baseUrl === undefined) throw new Error('The app is not listening.');
    return this.baseUrl;
  }

  get log(): string {
    return this.output;
  }

  /** SIGTERM (the app's shutdown hooks drain and close), SIGKILL if it is still there after `graceMs`. */
  async stop(graceMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.ended) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      try {
        return await this.exited;
      } finally {
        clearTimeout(timer);
      }
    }
    return this.exited;
  }

  async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
  }
}
