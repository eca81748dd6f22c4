import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BrokerEngine } from '../broker-engine';
import type { RedistributeOptions } from '../backlog/offset-reset-plan';
import { resolveEngineOptions, type ResolvedEngineOptions } from '../engine-options';
import type {
  Delivery,
  EngineOptions,
  HalfMessage,
  HalfMessageChecker,
  MessageHandler,
  SubscribeOptions,
} from '../engine.types';
import { EngineClosedError, InvalidArgumentError } from '../errors';
import { SharedSkewClock } from './shared-skew-clock';
import { TickPoster } from './tick-poster';
import {
  compactBytes,
  errorFromWire,
  errorToWire,
  reviveBytes,
  type ForwardedMethod,
  type FromWorker,
  type ToWorker,
  type WorkerStart,
} from './worker-wire';

/** Options of an engine in a worker thread: the engine's, with a clock both threads can read. */
export interface WorkerEngineOptions extends Omit<EngineOptions, 'clock'> {
  /** Default: the system clock. Any other clock cannot reach the engine's thread. */
  clock?: SharedSkewClock;
}

/** A member of a consumer group whose handler runs in this thread while the engine runs in its own. */
export interface WorkerSubscription {
  readonly group: string;
  readonly topic: string;
  readonly memberId: string;
  /** Queues currently assigned to this member, as `topic:queueId`. */
  assignedQueues(): Promise<string[]>;
  /** Stop taking messages, wait for in-flight handlers (up to `timeoutMs`), then leave the group. */
  close(timeoutMs?: number): Promise<void>;
}

/** How long one turn of the event loop starts handlers before it lets timers and I/O run. */
const DISPATCH_SLICE_MS = 0.25;

type Result<M extends ForwardedMethod> = Promise<Awaited<ReturnType<BrokerEngine[M]>>>;

interface PendingCall {
  resolve(value: unknown): void;
  reject(error: Error): void;
  onProgress?: (moved: number) => void;
}

/**
 * The included broker engine on a thread of its own. The database, its commits and fsyncs, delivery scheduling and
 * the engine's timers run there, so a commit never blocks the application's event loop; handlers and transaction
 * checkers run in the application's thread. Every method of `BrokerEngine` is here, returning a promise; confirms
 * mean the same (a publish resolves after its durable commit). Same data directory format: an engine opened either
 * way reads what the other wrote.
 */
export class WorkerEngine {
  readonly options: ResolvedEngineOptions;
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
    options: ResolvedEngineOptions,
  ) {
    this.options = options;
    this.out = new TickPoster(worker);
  }

  /** Starts the engine's thread and opens the database there; rejects with the engine's own error if it cannot. */
  static async open(options: WorkerEngineOptions): Promise<WorkerEngine> {
    if (options?.clock !== undefined && !(options.clock instanceof SharedSkewClock)) {
      throw new InvalidArgumentError(
        'A worker engine reads the time in its own thread: pass a SharedSkewClock as clock, or no clock.',
      );
    }
    const resolved = resolveEngineOptions(options);
    const start: WorkerStart = { options: cloneableOptions(options), clockSkew: options.clock?.skew };
    const entry = workerEntry();
    const worker = new Worker(entry, { workerData: start, ...sourceExecArgv(entry) });
    const engine = new WorkerEngine(worker, resolved);
    await engine.started();
    return engine;
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
      this.options.onError(error);
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
        return this.options.onError(errorFromWire(message.error));
      case 'warning':
        return this.options.onWarning(message.message);
      case 'opened':
        return;
    }
  }

  private deliver(sub: number, delivery: number, message: Delivery): void {
    const handler = this.handlers.get(sub);
    const settle = (error?: unknown): void =>
      this.out.post({ t: 'settle', delivery, ...(error === undefined ? {} : { error: errorToWire(error) }) });
    if (!handler) return settle(new EngineClosedError('deliver: the member has left'));
    let outcome: Promise<void>;
    try {
      outcome = handler(message);
    } catch (error) {
      return settle(error ?? new Error('handler threw'));
    }
    Promise.resolve(outcome).then(
      () => settle(),
      (error: unknown) => settle(error ?? new Error('handler rejected')),
    );
  }

  private check(checker: number, check: number, half: HalfMessage): void {
    const ask = this.checkers.get(checker);
    const answer = (reply: { outcome?: 'commit' | 'rollback' | 'unknown'; error?: unknown }): void =>
      this.out.post({
        t: 'answer',
        check,
        ...(reply.error === undefined ? { outcome: reply.outcome } : { error: errorToWire(reply.error) }),
      });
    if (!ask) return answer({ outcome: 'unknown' });
    Promise.resolve()
      .then(() => ask(half))
      .then(
        (outcome) => answer({ outcome }),
        (error: unknown) => answer({ error: error ?? new Error('checker rejected') }),
      );
  }

  private request<T>(message: (id: number) => ToWorker, onProgress?: (moved: number) => void): Promise<T> {
    if (this.state === 'closed') return Promise.reject(this.ended ?? new EngineClosedError('use a closed engine'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (value: unknown) => void, reject, onProgress });
      // A call in flight keeps the process alive, as an engine in this thread would until its commit.
      if (this.calls.size === 1) this.worker.ref();
      this.out.post(message(id));
    });
  }

  private call<M extends ForwardedMethod>(method: M, args: Parameters<BrokerEngine[M]>): Result<M> {
    return this.request((id) => ({ t: 'call', id, method, args: compactBytes([...args]) }));
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  createTopic(...args: Parameters<BrokerEngine['createTopic']>): Result<'createTopic'> {
    return this.call('createTopic', args);
  }

  getTopic(...args: Parameters<BrokerEngine['getTopic']>): Result<'getTopic'> {
    return this.call('getTopic', args);
  }

  listTopics(): Result<'listTopics'> {
    return this.call('listTopics', []);
  }

  /** Resolves once the batch is durable in the engine's thread: after its fsync'd commit in `sync` mode. */
  publish(...args: Parameters<BrokerEngine['publish']>): Result<'publish'> {
    return this.call('publish', args);
  }

  /** Joins a member whose handler runs in this thread; the engine waits for each handler's promise as in-process. */
  async subscribe(options: SubscribeOptions): Promise<WorkerSubscription> {
    const { handler, ...request } = options;
    if (typeof handler !== 'function') {
      throw new InvalidArgumentError('subscribe needs a handler: an async function that takes one delivery.');
    }
    const sub = this.nextId++;
    this.handlers.set(sub, handler);
    let joined: { memberId: string };
    try {
      joined = await this.request<{ memberId: string }>((id) => ({ t: 'subscribe', id, sub, options: request }));
    } catch (error) {
      this.handlers.delete(sub);
      throw error;
    }
    let closing: Promise<void> | null = null;
    return {
      group: options.group,
      topic: options.topic,
      memberId: joined.memberId,
      assignedQueues: () => this.request<string[]>((id) => ({ t: 'assigned', id, sub })),
      close: (timeoutMs) => {
        closing ??= (
          this.state === 'open'
            ? this.request<void>((id) => ({ t: 'unsubscribe', id, sub, timeoutMs }))
            : Promise.resolve()
        ).finally(() => this.handlers.delete(sub));
        return closing;
      },
    };
  }

  heartbeat(...args: Parameters<BrokerEngine['heartbeat']>): Result<'heartbeat'> {
    return this.call('heartbeat', args);
  }

  /** Consume timeouts, session expiry, held queues and due delayed messages. Runs on a timer; tests may call it. */
  runMaintenance(): Result<'runMaintenance'> {
    if (this.state !== 'open') return Promise.resolve();
    return this.call('runMaintenance', []);
  }

  listDeadLetters(...args: Parameters<BrokerEngine['listDeadLetters']>): Result<'listDeadLetters'> {
    return this.call('listDeadLetters', args);
  }

  getDeadLetter(...args: Parameters<BrokerEngine['getDeadLetter']>): Result<'getDeadLetter'> {
    return this.call('getDeadLetter', args);
  }

  resendDeadLetters(...args: Parameters<BrokerEngine['resendDeadLetters']>): Result<'resendDeadLetters'> {
    return this.call('resendDeadLetters', args);
  }

  discardDeadLetters(...args: Parameters<BrokerEngine['discardDeadLetters']>): Result<'discardDeadLetters'> {
    return this.call('discardDeadLetters', args);
  }

  sendHalf(...args: Parameters<BrokerEngine['sendHalf']>): Result<'sendHalf'> {
    return this.call('sendHalf', args);
  }

  commitHalf(...args: Parameters<BrokerEngine['commitHalf']>): Result<'commitHalf'> {
    return this.call('commitHalf', args);
  }

  rollbackHalf(...args: Parameters<BrokerEngine['rollbackHalf']>): Result<'rollbackHalf'> {
    return this.call('rollbackHalf', args);
  }

  /** Registers a checker that runs in this thread; resolves with the function that unregisters it. */
  async registerTransactionChecker(producerGroup: string, checker: HalfMessageChecker): Promise<() => Promise<void>> {
    if (typeof checker !== 'function') {
      throw new InvalidArgumentError(
        `The transaction checker of producer group "${producerGroup}" must be a function that answers commit, rollback or unknown.`,
      );
    }
    const id = this.nextId++;
    this.checkers.set(id, checker);
    try {
      await this.request<void>((call) => ({ t: 'checker', id: call, checker: id, producerGroup }));
    } catch (error) {
      this.checkers.delete(id);
      throw error;
    }
    return async () => {
      this.checkers.delete(id);
      if (this.state === 'open') await this.request<void>((call) => ({ t: 'unchecker', id: call, checker: id }));
    };
  }

  listHalfMessages(...args: Parameters<BrokerEngine['listHalfMessages']>): Result<'listHalfMessages'> {
    return this.call('listHalfMessages', args);
  }

  getHalfMessage(...args: Parameters<BrokerEngine['getHalfMessage']>): Result<'getHalfMessage'> {
    return this.call('getHalfMessage', args);
  }

  commitDiscardedHalves(...args: Parameters<BrokerEngine['commitDiscardedHalves']>): Result<'commitDiscardedHalves'> {
    return this.call('commitDiscardedHalves', args);
  }

  discardDiscardedHalves(
    ...args: Parameters<BrokerEngine['discardDiscardedHalves']>
  ): Result<'discardDiscardedHalves'> {
    return this.call('discardDiscardedHalves', args);
  }

  expandQueues(...args: Parameters<BrokerEngine['expandQueues']>): Result<'expandQueues'> {
    return this.call('expandQueues', args);
  }

  /** As `BrokerEngine.redistributeBacklog`; `onProgress` is called in this thread. */
  redistributeBacklog(
    group: string,
    fromTopic: string,
    target: string | RedistributeOptions = {},
    options: { onProgress?: (moved: number) => void } = {},
  ): Promise<{ moved: number; toTopic: string }> {
    const resolved: RedistributeOptions = typeof target === 'string' ? { ...options, toTopic: target } : target;
    const { onProgress, ...plain } = resolved;
    return this.request(
      (id) => ({ t: 'redistribute', id, args: [group, fromTopic, plain], progress: onProgress !== undefined }),
      onProgress,
    );
  }

  backlog(): Result<'backlog'> {
    return this.call('backlog', []);
  }

  previewOffsetReset(...args: Parameters<BrokerEngine['previewOffsetReset']>): Result<'previewOffsetReset'> {
    return this.call('previewOffsetReset', args);
  }

  resetOffsets(...args: Parameters<BrokerEngine['resetOffsets']>): Result<'resetOffsets'> {
    return this.call('resetOffsets', args);
  }

  stats(): Result<'stats'> {
    return this.call('stats', []);
  }

  runRetention(): Result<'runRetention'> {
    return this.call('runRetention', []);
  }

  /** Closes the engine in its thread (in-flight handlers waited for up to `timeoutMs`), then ends the thread. */
  async close(timeoutMs?: number): Promise<void> {
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

/** The engine's options without the clock and callbacks, which stay in this thread. */
function cloneableOptions(options: WorkerEngineOptions): Record<string, unknown> {
  const plain: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(options)) {
    if (typeof value !== 'function' && name !== 'clock') plain[name] = value;
  }
  return plain;
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
