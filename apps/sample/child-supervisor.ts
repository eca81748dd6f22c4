import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';

/** The repository root: children run there, and relative entries are resolved against it. */
export const REPOSITORY_ROOT = resolve(__dirname, '..', '..');

/** The tsconfig whose `paths` give a TypeScript child the `@reliable-mq/*` aliases. */
export const REPOSITORY_TSCONFIG = join(REPOSITORY_ROOT, 'tsconfig.json');

/**
 * Node flags that run a TypeScript entry: SWC compiles each file as Node loads it. The CommonJS require hook on
 * purpose: the project compiles to CommonJS, and the ESM loader cannot see the named exports of aliased modules.
 */
export const TYPESCRIPT_NODE_ARGS: readonly string[] = ['-r', require.resolve('@swc-node/register')];

/** How a child ended. */
export interface ChildEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What to start: a Node entry file of this repository (TypeScript or JavaScript) and its environment. */
export interface ChildSpec {
  /** Names the child in errors and in `stopInStages`. */
  name: string;
  /** Resolved against the repository root. A `.ts` entry runs through SWC with the repository's path aliases. */
  entry: string;
  args?: readonly string[];
  /** Flags for Node itself, before the entry (e.g. `--cpu-prof`). */
  nodeArgs?: readonly string[];
  /** Added to this process's environment. */
  env?: Record<string, string>;
  /** Default: the repository root. */
  cwd?: string;
  /**
   * A process group of its own, so that a Ctrl+C in the terminal reaches the parent alone, which then stops the
   * children in its own order. Default false.
   */
  detached?: boolean;
  /** Every complete line of output, as it arrives. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Keep the whole output (`stdout()`, `stderr()`, `all()`); a long-running child keeps its last lines only. */
  collect?: boolean;
}

/** A child did not print the awaited line: it ended first, or the time ran out. */
export class ChildNotReadyError extends Error {
  constructor(
    message: string,
    /** Set when the child ended first. */
    readonly ended: ChildEnd | undefined,
  ) {
    super(message);
    this.name = 'ChildNotReadyError';
  }
}

const RECENT_LINES = 40;

/** One child process of a supervisor, its output and its end. Stopped only through its own PID. */
export class SupervisedChild {
  readonly process: ChildProcess;
  /** Settles when the process has exited. */
  readonly exited: Promise<ChildEnd>;
  /** Settles when the process has exited and its output is all read. */
  readonly closed: Promise<ChildEnd>;
  /** The last lines of both streams, for a message when the child fails. */
  readonly recent: string[] = [];
  private readonly text = { stdout: '', stderr: '', all: '' };
  private readonly lineListeners = new Set<(line: string, stream: 'stdout' | 'stderr') => void>();

  constructor(readonly spec: ChildSpec) {
    const entry = resolve(REPOSITORY_ROOT, spec.entry);
    const typescript = entry.endsWith('.ts');
    this.process = spawn(
      process.execPath,
      [...(spec.nodeArgs ?? []), ...(typescript ? TYPESCRIPT_NODE_ARGS : []), entry, ...(spec.args ?? [])],
      {
        cwd: spec.cwd ?? REPOSITORY_ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: spec.detached ?? false,
        env: {
          ...process.env,
          ...spec.env,
          ...(typescript ? { SWC_NODE_PROJECT: REPOSITORY_TSCONFIG, TS_NODE_PROJECT: REPOSITORY_TSCONFIG } : {}),
        },
      },
    );
    if (spec.onLine) this.lineListeners.add(spec.onLine);
    this.read('stdout');
    this.read('stderr');
    // A spawn that fails ends the child as an exit would, rather than as an unhandled 'error' event.
    const failed = new Promise<ChildEnd>((done) =>
      this.process.once('error', (error) => {
        this.remember(`${error.message}`);
        done({ code: null, signal: null });
      }),
    );
    this.exited = Promise.race([
      failed,
      new Promise<ChildEnd>((done) => this.process.once('exit', (code, signal) => done({ code, signal }))),
    ]);
    this.closed = Promise.race([
      failed,
      new Promise<ChildEnd>((done) => this.process.once('close', (code, signal) => done({ code, signal }))),
    ]);
  }

  get name(): string {
    return this.spec.name;
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  /** Standard output so far (with `collect`). */
  stdout(): string {
    return this.text.stdout;
  }

  /** Standard error so far (with `collect`). */
  stderr(): string {
    return this.text.stderr;
  }

  /** Both streams in the order they arrived (with `collect`). */
  all(): string {
    return this.text.all;
  }

  /**
   * Resolves with the first line from now on that matches `pattern`; rejects with a ChildNotReadyError when the child
   * ends or `timeoutMs` passes first.
   */
  waitForLine(pattern: RegExp, timeoutMs: number, stream: 'stdout' | 'both' = 'stdout'): Promise<RegExpExecArray> {
    return new Promise((resolveLine, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.lineListeners.delete(listener);
      };
      const listener = (line: string, from: 'stdout' | 'stderr'): void => {
        if (stream === 'stdout' && from !== 'stdout') return;
        const match = pattern.exec(line);
        if (!match) return;
        finish();
        resolveLine(match);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new ChildNotReadyError(`The ${this.name} did not print ${pattern} within ${timeoutMs} ms.`, undefined));
      }, timeoutMs);
      this.lineListeners.add(listener);
      void this.closed.then((ended) => {
        if (!this.lineListeners.has(listener)) return;
        finish();
        reject(new ChildNotReadyError(`The ${this.name} exited (${ended.code ?? ended.signal}) first.`, ended));
      });
    });
  }

  /** The JSON of the first `<marker> {...}` line printed from now on: how the sample's parts say they are ready. */
  async readyLine<T>(marker: string, timeoutMs: number): Promise<T> {
    const match = await this.waitForLine(new RegExp(`${marker} (\\{.*\\})`), timeoutMs);
    return JSON.parse(match[1]!) as T;
  }

  /** Sends `signal` to this child's PID, if it still runs. */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.process.kill(signal);
  }

  /** SIGKILL, and wait until it has ended. */
  async kill(): Promise<ChildEnd> {
    this.signal('SIGKILL');
    return this.closed;
  }

  /** SIGTERM, and wait for the child's own shutdown; SIGKILL once `timeoutMs` has passed. */
  async stop(timeoutMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<ChildEnd> {
    if (!this.running) return this.closed;
    this.process.kill(signal);
    const timer = setTimeout(() => this.signal('SIGKILL'), timeoutMs);
    try {
      return await this.closed;
    } finally {
      clearTimeout(timer);
    }
  }

  private read(stream: 'stdout' | 'stderr'): void {
    let pending = '';
    const source = this.process[stream]!;
    source.setEncoding('utf8');
    source.on('data', (chunk: string) => {
      if (this.spec.collect) {
        this.text[stream] += chunk;
        this.text.all += chunk;
      }
      pending += chunk;
      let end: number;
      while ((end = pending.indexOf('\n')) !== -1) {
        const line = pending.slice(0, end);
        pending = pending.slice(end + 1);
        this.remember(line);
        for (const listener of [...this.lineListeners]) listener(line, stream);
      }
    });
  }

  private remember(line: string): void {
    this.recent.push(line);
    if (this.recent.length > RECENT_LINES) this.recent.shift();
  }
}

/**
 * Starts child processes, restarts them when asked and stops them by PID: one at a time, in stages, or all that
 * still run. Each instance keeps its own children, so two supervisors in one process share nothing; children still
 * running when this process exits without stopping them (an uncaught error) get SIGTERM.
 */
export class ChildSupervisor {
  private readonly running = new Set<SupervisedChild>();
  private readonly stopOrphans = (): void => {
    for (const child of this.running) child.signal('SIGTERM');
  };

  /** The children started by this supervisor that still run. */
  get children(): readonly SupervisedChild[] {
    return [...this.running];
  }

  start(spec: ChildSpec): SupervisedChild {
    const child = new SupervisedChild(spec);
    if (this.running.size === 0) process.once('exit', this.stopOrphans);
    this.running.add(child);
    void child.closed.then(() => {
      this.running.delete(child);
      if (this.running.size === 0) process.removeListener('exit', this.stopOrphans);
    });
    return child;
  }

  /** Starts `child`'s spec again, its environment amended by `env`, once the previous process has ended (SIGKILL). */
  async restart(child: SupervisedChild, env: Record<string, string> = {}): Promise<SupervisedChild> {
    await child.kill();
    return this.startAgain(child, env);
  }

  /** Starts the spec of `child`, which has ended on its own, again at once; its environment amended by `env`. */
  startAgain(child: SupervisedChild, env: Record<string, string> = {}): SupervisedChild {
    if (child.running) throw new Error(`The ${child.name} still runs (pid ${child.pid}): restart it instead.`);
    return this.start({ ...child.spec, env: { ...child.spec.env, ...env } });
  }

  /** Stops the named children stage by stage, each stage's children together (SIGTERM, SIGKILL after `timeoutMs`). */
  async stopInStages(stages: readonly (readonly string[])[], timeoutMs: number): Promise<void> {
    for (const names of stages)
      await Promise.all(this.children.filter((c) => names.includes(c.name)).map((c) => c.stop(timeoutMs)));
  }

  /** Stops every child still running, together. */
  async stopAll(timeoutMs: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await Promise.all(this.children.map((child) => child.stop(timeoutMs, signal)));
  }
}
