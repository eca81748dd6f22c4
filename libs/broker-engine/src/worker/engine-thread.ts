import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { HalfMessage, HalfMessageChecker, MessageHandler } from '../engine.types';
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

/**
 * The most a member reads ahead: as many messages as its prefetch, up to this. A round trip between the threads
 * lasts a fraction of a millisecond, which a few dozen messages cover at tens of thousands a second; a large prefetch
 * would otherwise hold twice its messages in memory.
 */
const MAX_READ_AHEAD = 256;

/** How long one turn of the event loop starts handlers before it lets timers and I/O run. */
const DISPATCH_SLICE_MS = 0.25;

type Deliver = Extract<FromWorker, { t: 'deliver' }>;

/**
 * One consumer member as this thread runs it: at most `limit` handlers at once (its prefetch); the engine hands it up
 * to as many again (read-ahead), which wait here, in order, so that a free handler need not wait for a round trip to
 * the engine's thread. Subscriptions that share a member id share one gate, as they share one prefetch in the engine.
 */
interface MemberGate {
  limit: number;
  running: number;
  /** Deliveries that found every handler busy; `held` marks them for a `begin` when they start. */
  waiting: Array<{ message: Deliver; held: boolean }>;
}

interface Member {
  handler: MessageHandler;
  gate: MemberGate;
  gateKey: string;
  /** Its close has begun: it starts nothing more, and what still comes for it goes back to the engine. */
  closing: boolean;
}

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
  private readonly members = new Map<number, Member>();
  private readonly gates = new Map<string, MemberGate>();
  /** Gates with deliveries waiting, whose handlers may have become free. */
  private readonly ready = new Set<MemberGate>();
  private readonly checkers = new Map<number, HalfMessageChecker>();
  private readonly checks: FromWorker[] = [];
  private dispatchScheduled = false;
  private nextId = 0;
  private state: 'open' | 'closing' | 'closed' = 'open';
  private ended: Error | null = null;

  private constructor(
    private readonly worker: Worker,
    private readonly events: EngineThreadEvents,
    /** The engine's clock, as this thread reads it. */
    private readonly now: () => number,
  ) {
    this.out = new TickPoster(worker);
  }

  /** Starts the thread, which opens the engine; rejects with the engine's own error if it cannot. */
  static async start(start: WorkerStart, events: EngineThreadEvents, now: () => number): Promise<EngineThread> {
    const entry = workerEntry();
    const thread = new EngineThread(new Worker(entry, { workerData: start, ...sourceExecArgv(entry) }), events, now);
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
      if (message.t === 'deliver') this.arrive(message);
      else if (message.t === 'check') this.checks.push(message);
      else this.handle(message);
    }
    this.scheduleDispatch();
  }

  /** A delivery waits in its member's gate; it is marked held when every handler of the member is taken before it. */
  private arrive(message: Deliver): void {
    const member = this.members.get(message.sub);
    if (!member || member.closing) return this.release(message.delivery);
    const { gate } = member;
    gate.waiting.push({ message, held: gate.running + gate.waiting.length >= gate.limit });
    this.ready.add(gate);
  }

  private scheduleDispatch(): void {
    if (this.dispatchScheduled || (this.ready.size === 0 && this.checks.length === 0)) return;
    this.dispatchScheduled = true;
    setImmediate(() => this.dispatch());
  }

  /**
   * Starts checkers, then handlers where a member has one free, in arrival order, for at most DISPATCH_SLICE_MS per
   * turn: the synchronous start of many handlers (parsing, validation, hashing) would otherwise hold the event loop as
   * long as the whole batch takes.
   */
  private dispatch(): void {
    this.dispatchScheduled = false;
    const started = performance.now();
    const sliceLeft = (): boolean => performance.now() - started < DISPATCH_SLICE_MS;
    let next = 0;
    while (next < this.checks.length && sliceLeft()) this.handle(this.checks[next++]!);
    this.checks.splice(0, next);
    for (const gate of this.ready) {
      while (gate.running < gate.limit && gate.waiting.length > 0 && sliceLeft()) this.start(gate.waiting.shift()!);
      if (gate.waiting.length === 0 || gate.running >= gate.limit) this.ready.delete(gate);
    }
    this.scheduleDispatch();
  }

  /** Runs a delivery's handler, unless its member is closing or the engine has already taken it back. */
  private start({ message, held }: { message: Deliver; held: boolean }): void {
    const member = this.members.get(message.sub);
    if (!member || member.closing || this.now() >= message.deadline) return this.release(message.delivery);
    const { gate } = member;
    gate.running++;
    // Its consume timeout counts from now, not from when the engine handed it out.
    if (held) this.out.post({ t: 'begin', delivery: message.delivery });
    const delivery = reviveBytes(message.message);
    postOutcome(
      () => member.handler(delivery),
      'handler',
      ({ error }) => {
        this.out.post({ t: 'settle', delivery: message.delivery, ...(error ? { error } : {}) });
        gate.running--;
        if (gate.waiting.length > 0) {
          this.ready.add(gate);
          this.scheduleDispatch();
        }
      },
    );
  }

  private release(delivery: number): void {
    this.out.post({ t: 'release', delivery });
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
        return this.arrive(message);
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

  /**
   * A member's handler, run at most `prefetch` at a time; `memberId` when the caller chose one (subscriptions under
   * one id share the limit, the largest they asked for). Returns the read-ahead to ask the engine for.
   */
  addMember(
    sub: number,
    handler: MessageHandler,
    group: string,
    memberId: string | undefined,
    prefetch: number,
  ): number {
    const key = memberId === undefined ? `#${sub}` : `${group}\u0000${memberId}`;
    let gate = this.gates.get(key);
    if (!gate) {
      gate = { limit: prefetch, running: 0, waiting: [] };
      this.gates.set(key, gate);
    }
    gate.limit = Math.max(gate.limit, prefetch);
    this.members.set(sub, { handler, gate, gateKey: key, closing: false });
    return Math.min(prefetch, MAX_READ_AHEAD);
  }

  /** Starts nothing more for `sub` and gives back what waits for it. */
  closeMember(sub: number): void {
    const member = this.members.get(sub);
    if (!member) return;
    member.closing = true;
    const { gate } = member;
    const kept = gate.waiting.filter((item) => item.message.sub !== sub);
    for (const item of gate.waiting) if (item.message.sub === sub) this.release(item.message.delivery);
    gate.waiting = kept;
  }

  removeMember(sub: number): void {
    const member = this.members.get(sub);
    if (!member) return;
    this.closeMember(sub);
    this.members.delete(sub);
    for (const other of this.members.values()) if (other.gate === member.gate) return;
    this.gates.delete(member.gateKey);
    this.ready.delete(member.gate);
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
    for (const sub of this.members.keys()) this.closeMember(sub);
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
