import type { BrokerEngine } from '../broker-engine';
import type { RedistributeOptions } from '../backlog/offset-reset-plan';
import { resolveEngineOptions, type ResolvedEngineOptions } from '../engine-options';
import type { EngineOptions, HalfMessageChecker, SubscribeOptions } from '../engine.types';
import { SUBSCRIPTION_LIMITS, withinLimit } from '../consume/subscription-limits';
import { InvalidArgumentError } from '../errors';
import { EngineThread } from './engine-thread';
import { SharedSkewClock } from './shared-skew-clock';
import { compactBytes, type ForwardedMethod, type WorkerStart } from './worker-wire';

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

type Result<M extends ForwardedMethod> = Promise<Awaited<ReturnType<BrokerEngine[M]>>>;

/**
 * The included broker engine on a thread of its own. The database, its commits and fsyncs, delivery scheduling and
 * the engine's timers run there, so a commit never blocks the application's event loop; handlers and transaction
 * checkers run in the application's thread. Every method of `BrokerEngine` is here, returning a promise; confirms
 * mean the same (a publish resolves after its durable commit). Same data directory format: an engine opened either
 * way reads what the other wrote.
 */
export class WorkerEngine {
  readonly options: ResolvedEngineOptions;

  private constructor(
    private readonly thread: EngineThread,
    options: ResolvedEngineOptions,
  ) {
    this.options = options;
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
    const clock = options.clock ?? Date;
    return new WorkerEngine(await EngineThread.start(start, resolved, () => clock.now()), resolved);
  }

  private call<M extends ForwardedMethod>(method: M, args: Parameters<BrokerEngine[M]>): Result<M> {
    return this.thread.request((id) => ({ t: 'call', id, method, args: compactBytes([...args]) }));
  }

  get isOpen(): boolean {
    return this.thread.isOpen;
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
    const sub = this.thread.newId();
    // An invalid prefetch is the engine's to refuse, with its own message.
    const prefetch = request.prefetch ?? SUBSCRIPTION_LIMITS.prefetch.default;
    const readAhead = this.thread.addMember(
      sub,
      handler,
      request.group,
      request.memberId,
      withinLimit(prefetch, SUBSCRIPTION_LIMITS.prefetch) ? prefetch : 1,
    );
    let joined: { memberId: string };
    try {
      joined = await this.thread.request<{ memberId: string }>((id) => ({
        t: 'subscribe',
        id,
        sub,
        options: request,
        readAhead,
      }));
    } catch (error) {
      this.thread.removeMember(sub);
      throw error;
    }
    let closing: Promise<void> | null = null;
    return {
      group: options.group,
      topic: options.topic,
      memberId: joined.memberId,
      assignedQueues: () => this.thread.request<string[]>((id) => ({ t: 'assigned', id, sub })),
      close: (timeoutMs) => {
        if (!closing) {
          // What waits here for a free handler goes back to the engine first, so the close waits only for running ones.
          this.thread.closeMember(sub);
          closing = (
            this.thread.isOpen
              ? this.thread.request<void>((id) => ({ t: 'unsubscribe', id, sub, timeoutMs }))
              : Promise.resolve()
          ).finally(() => this.thread.removeMember(sub));
        }
        return closing;
      },
    };
  }

  heartbeat(...args: Parameters<BrokerEngine['heartbeat']>): Result<'heartbeat'> {
    return this.call('heartbeat', args);
  }

  /** Consume timeouts, session expiry, held queues and due delayed messages. Runs on a timer; tests may call it. */
  runMaintenance(): Result<'runMaintenance'> {
    if (!this.thread.isOpen) return Promise.resolve();
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
    const id = this.thread.newId();
    this.thread.addChecker(id, checker);
    try {
      await this.thread.request<void>((call) => ({ t: 'checker', id: call, checker: id, producerGroup }));
    } catch (error) {
      this.thread.removeChecker(id);
      throw error;
    }
    return async () => {
      this.thread.removeChecker(id);
      if (this.thread.isOpen) await this.thread.request<void>((call) => ({ t: 'unchecker', id: call, checker: id }));
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
    return this.thread.request(
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
    await this.thread.close(timeoutMs);
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
