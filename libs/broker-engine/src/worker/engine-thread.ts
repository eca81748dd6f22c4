import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Delivery, HalfMessage, HalfMessageChecker, MessageHandler } from '../engine.types';
import { EngineClosedError } from '../errors';
import { TickPoster } from './tick-poster';
import {
  errorFromWire,
  postOutcome,
  reviveBytes,
  type FromWorker,
  type ToWorker,
  type WorkerStart,
} from './worker-wire';

/** How long one turn of the event loop starts handlers before it lets timers and I/O run. */
const DISPATCH_SLICE_MS = 0.25;

interface PendingCall {
  resolve(value: unknown): void;
  reject(error: Error): void;
  onProgress?: (moved: number) => void;
}

/** What the engine's thread reports that is not an answer to a call. */
export interface EngineThreadEvents {
  onError(error: Error): void;
  onWarning(message: string): void;
}

/**
 * The application's end of the engine's thread: starts it, matches answers to calls, runs the handlers and checkers
 * the engine asks for and sends their outcomes back, and keeps the process alive while a call is in flight.
 */
export class EngineThread {
  private readonly out: TickPoster<ToWorker>;
  private readonly calls = new Map<number, PendingCall>();
  private readonly handlers = new Map<number, MessageHandler>();
  private readonly checkers = new Map<number, HalfMessageChecker>();
  private readonly dispatchQueue: FromWorker[] = [];
  private dispatchScheduled = false;
  private nextId = 0;
  private state: 'open' | 'closing' | 'closed' = 'open';
  private ended: Error | null = null;

  private constructor(
    private readonly worker: Worker,
    private readonly events: EngineThreadEvents,
  ) {
    this.out = new TickPoster(worker);
  }

  /** Starts the thread, which opens the engine; rejects with the engine's own error if it cannot. */
  static async start(start: WorkerStart, events: EngineThreadEvents): Promise<EngineThread> {
    const entry = workerEntry();
    const thread = new EngineThread(new Worker(entry, { workerData: start, ...sourceExecArgv(entry) }), events);
    await thread.started();
    return thread;
  }

  private started(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const failed = (error: Error): void => reject(error);
      this.worker.once('error', failed);
      this.worker.once('exit', () => failed(new EngineClosedError('open the engine: its thread ended while opening')));
      this.worker.once('message', (batch: FromWorker[]) => {
        this.worker.removeAllListeners('exit');
        this.worker.off('error', failed);
        const opened = batch[0];
        if (opened?.t === 'opened' && opened.error) {
          this.state = 'closed';
          void this.worker.terminate();
          reject(errorFromWire(opened.error));
          return;
        }
        this.listen();
        this.receive(batch.slice(1));
        this.worker.unref();
        resolve();
      });
    });
  }

  private listen(): void {
    this.worker.on('message', (batch: FromWorker[]) => this.receive(batch));
    this.worker.on('error', (error: Error) => {
      this.events.onError(error);
      this.end(error);
    });
    this.worker.on('exit', () => this.end(new EngineClosedError('use the engine: its thread has ended')));
  }

  /**
   * Answers first; handlers and checkers on the next turn, as the engine in this thread calls them: whoever awaited a
   * publish has seen its confirm before a handler sees its message.
   */
  private receive(batch: FromWorker[]): void {
    for (const message of batch) {
      if (message.t === 'deliver' || message.t === 'check') this.dispatchQueue.push(message);
      else this.handle(message);
    }
    if (this.dispatchQueue.length > 0 && !this.dispatchScheduled) {
      this.dispatchScheduled = true;
      setImmediate(() => this.dispatch());
    }
  }

  /**
   * Starts handlers in arrival order, for at most DISPATCH_SLICE_MS per turn: the synchronous start of many handlers
   * (parsing, validation, hashing) would otherwise hold the event loop as long as the whole batch takes.
   */
  private dispatch(): void {
    const started = performance.now();
    let next = 0;
    while (next < this.dispatchQueue.length) {
      this.handle(this.dispatchQueue[next++]!);
      if (performance.now() - started >= DISPATCH_SLICE_MS) break;
    }
    this.dispatchQueue.splice(0, next);
    if (this.dispatchQueue.length > 0) setImmediate(() => this.dispatch());
    else this.dispatchScheduled = false;
  }

  private end(error: Error): void {
    this.state = 'closed';
    this.ended ??= error;
    for (const call of this.calls.values()) call.reject(this.ended);
    this.calls.clear();
  }

  private handle(message: FromWorker): void {
    switch (message.t) {
      case 'result': {
        const call = this.calls.get(message.id);
        if (!call) return;
        this.calls.delete(message.id);
        if (this.calls.size === 0) this.worker.unref();
        if (message.error) call.reject(errorFromWire(message.error));
        else call.resolve(reviveBytes(message.value));
        return;
      }
      case 'deliver':
        return this.deliver(message.sub, message.delivery, reviveBytes(message.message));
      case 'check':
        return this.check(message.checker, message.check, reviveBytes(message.half));
      case 'progress':
        this.calls.get(message.id)?.onProgress?.(message.moved);
        return;
      case 'error':
        return this.events.onError(errorFromWire(message.error));
      case 'warning':
        return this.events.onWarning(message.message);
      case 'opened':
        return;
    }
  }

  private deliver(sub: number, delivery: number, message: Delivery): void {
    const handler = this.handlers.get(sub);
    postOutcome(
      () => {
        if (!handler) throw new EngineClosedError('deliver: the member has left');
        return handler(message);
      },
      'handler',
      ({ error }) => this.out.post({ t: 'settle', delivery, ...(error ? { error } : {}) }),
    );
  }

  private check(checker: number, check: number, half: HalfMessage): void {
    const ask = this.checkers.get(checker);
    postOutcome(
      () => (ask ? ask(half) : 'unknown'),
      'checker',
      ({ value, error }) =>
        this.out.post(error ? { t: 'answer', check, error } : { t: 'answer', check, outcome: value }),
    );
  }

  request<T>(message: (id: number) => ToWorker, onProgress?: (moved: number) => void): Promise<T> {
    if (this.state === 'closed') return Promise.reject(this.ended ?? new EngineClosedError('use a closed engine'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (value: unknown) => void, reject, onProgress });
      // A call in flight keeps the process alive, as an engine in this thread would until its commit.
      if (this.calls.size === 1) this.worker.ref();
      this.out.post(message(id));
    });
  }

  /** An id for a subscription, a checker or a call, unique in this thread. */
  newId(): number {
    return this.nextId++;
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  addHandler(sub: number, handler: MessageHandler): void {
    this.handlers.set(sub, handler);
  }

  removeHandler(sub: number): void {
    this.handlers.delete(sub);
  }

  addChecker(id: number, checker: HalfMessageChecker): void {
    this.checkers.set(id, checker);
  }

  removeChecker(id: number): void {
    this.checkers.delete(id);
  }

  /** The engine closes in its thread; then the thread ends and every later call is refused. */
  async close(timeoutMs: number | undefined): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'closing';
    try {
      await this.request<void>((id) => ({ t: 'close', id, timeoutMs }));
    } finally {
      this.state = 'closed';
      this.ended ??= new EngineClosedError('use a closed engine');
      await this.worker.terminate();
    }
  }
}

/**
 * Run from source (the repository's tests and sample), the thread needs the TypeScript hook its parent has: inherited
 * when the process was started with it, loaded by path from this repository's dependencies otherwise. The published
 * package runs compiled JavaScript and passes nothing.
 */
function sourceExecArgv(entry: string): { execArgv?: string[] } {
  if (!entry.endsWith('.ts') || process.execArgv.some((arg) => arg.includes('swc-node'))) return {};
  const hook = '@swc-node/register';
  return { execArgv: ['-r', require.resolve(hook, { paths: [__dirname] })] };
}

/** The worker's entry next to this file: compiled JavaScript in the package, TypeScript when run from source. */
function workerEntry(): string {
  return join(__dirname, `engine-worker.main${__filename.endsWith('.ts') ? '.ts' : '.js'}`);
}
